"""`python -m damage_vision`: see damage_vision/cli.py."""

from damage_vision.cli import main

if __name__ == "__main__":  # not on import (pkgutil.walk_packages imports every module)
    raise SystemExit(main())
