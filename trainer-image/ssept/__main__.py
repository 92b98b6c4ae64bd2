import sys

from ssept.cli import main

sys.exit(main())
