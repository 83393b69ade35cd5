select position(position(position(position(position(position(position(position(position(position(position(position(position(position(position(position(1
