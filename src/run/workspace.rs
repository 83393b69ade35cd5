//! A workspace: the project as loaded, its DAG, the warehouse it builds
//! into and the engine settings it runs with. Every command but `restore`
//! starts by opening one.

use std::path::PathBuf;
use std::sync::Arc;

use crate::base::error::{Error, Result};
use crate::engine::{Engine, EngineOptions};
use crate::run::registry::{State, register_unselected};
use crate::spec::dag::Dag;
use crate::spec::project::{Config, Project};
use crate::spec::select::Selection;
use crate::storage::warehouse::{Warehouse, Zone};

/// Where a workspace lives.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The project directory, holding `marts/` and `sql/`.
    pub project: PathBuf,
    /// Where tables are landed and built.
    pub warehouse: PathBuf,
}

pub struct Workspace {
    pub project: Arc<Project>,
    pub dag: Arc<Dag>,
    pub warehouse: Arc<Warehouse>,
    /// The engine's settings, the project's `config:` under those given
    /// by the caller.
    pub engine: EngineOptions,
}

impl Workspace {
    /// Load the project and its DAG: a bad YAML or SQL file, or a cycle,
    /// is an error. `engine` resolves the engine's settings from the
    /// project's `config:`.
    pub fn open(dirs: &Dirs, engine: impl FnOnce(&Config) -> EngineOptions) -> Result<Workspace> {
        let project = Project::load(&dirs.project)?;
        let dag = Dag::build(&project)?;
        Ok(Workspace::new(dirs, project, dag, engine))
    }

    /// As `open`, but a DAG that cannot be built (a cycle, a model reading
    /// an unknown table) leaves one with no dependencies, returned with
    /// the error: landing and querying raw tables do not need it.
    pub fn open_lenient(
        dirs: &Dirs,
        engine: impl FnOnce(&Config) -> EngineOptions,
    ) -> Result<(Workspace, Option<Error>)> {
        let project = Project::load(&dirs.project)?;
        let (dag, err) = match Dag::build(&project) {
            Ok(dag) => (dag, None),
            Err(e) => (Dag::empty(&project), Some(e)),
        };
        Ok((Workspace::new(dirs, project, dag, engine), err))
    }

    fn new(
        dirs: &Dirs,
        project: Project,
        dag: Dag,
        engine: impl FnOnce(&Config) -> EngineOptions,
    ) -> Workspace {
        Workspace {
            engine: engine(&project.config),
            project: Arc::new(project),
            dag: Arc::new(dag),
            warehouse: Arc::new(Warehouse::new(dirs.warehouse.clone())),
        }
    }

    /// A new session with this workspace's settings and nothing registered.
    pub fn session(&self) -> Result<Engine> {
        Engine::new(&self.engine)
    }

    /// A session over everything the warehouse serves: landed sources and
    /// built tables as published, views and ephemeral models as last
    /// published, for `mart query` and `mart test`.
    pub async fn reader(&self) -> Result<Engine> {
        let engine = self.session()?;
        self.register_all(&engine).await?;
        Ok(engine)
    }

    async fn register_all(&self, engine: &Engine) -> Result<()> {
        let (project, warehouse) = (&self.project, &self.warehouse);
        let nothing = Selection {
            nodes: Default::default(),
        };
        let mut state = State::new(project, Arc::default());
        register_unselected(engine, project, &self.dag, warehouse, &nothing, &mut state).await?;
        // Tables no longer in the project stay readable until removed.
        for zone in [Zone::Raw, Zone::Mart] {
            for name in warehouse.list(zone) {
                let known = match zone {
                    Zone::Raw => project.source(&name).is_some(),
                    Zone::Mart => project.model(&name).is_some(),
                };
                if !known && let Some(version) = warehouse.current(zone, &name)? {
                    engine.register(zone, &version).await?;
                }
            }
        }
        Ok(())
    }
}
