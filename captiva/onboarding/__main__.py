import sys

from captiva.onboarding.cli import main

sys.exit(main())
