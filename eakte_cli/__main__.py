import sys

from eakte_cli import main

sys.exit(main())
