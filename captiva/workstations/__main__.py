import sys

from captiva.workstations.cli import main

sys.exit(main())
