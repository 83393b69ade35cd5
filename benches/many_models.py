"""A generated project of N models, as a large team's mart looks: SQL in 20
subfolders, each model a CTE, a join of two earlier models and a window,
declared in one YAML file per folder, over one small CSV source.

    python3 benches/many_models.py N DIR
"""
import os
import random
import sys

count, root = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
folders = [f"area{f:02d}" for f in range(20)]
for d in ["data", "marts"] + [f"sql/{f}" for f in folders]:
    os.makedirs(f"{root}/{d}", exist_ok=True)
with open(f"{root}/data/t.csv", "w") as f:
    f.write("id,g,v\n" + "".join(f"{i},{i % 10},{i * 3}\n" for i in range(100)))
yaml = {f: [] for f in folders}
kinds = ["table"] * 7 + ["view"] * 2 + ["ephemeral"]
for i in range(count):
    name, folder = f"m{i:05d}", folders[i % 20]
    yaml[folder].append(f"  - name: {name}\n    materialized: {kinds[i % 10]}\n    tags: [t{i % 7}]\n")
    if i < 10:
        sql = f"select id, g, v + {i} as v from raw.t"
    else:
        a, b = rng.sample(range(max(0, i - 200), i), 2)
        sql = (
            f"with joined as (\n"
            f"    select a.id, a.g, (a.v + b.v) % 1000 as v\n"
            f"    from m{a:05d} a\n"
            f"    join m{b:05d} b on a.id = b.id\n"
            f")\n"
            f"select id, g, sum(v) over (partition by g order by id) as v\n"
            f"from joined"
        )
    with open(f"{root}/sql/{folder}/{name}.sql", "w") as f:
        f.write(sql + "\n")
with open(f"{root}/marts/sources.yml", "w") as f:
    f.write("sources:\n  - name: t\n    path: data/t.csv\n")
for folder, models in yaml.items():
    with open(f"{root}/marts/{folder}.yml", "w") as f:
        f.write("models:\n" + "".join(models))
