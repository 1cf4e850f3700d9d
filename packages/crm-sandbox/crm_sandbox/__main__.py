"""`python -m crm_sandbox up|seed|churn`."""

import sys

from crm_sandbox.cli import main

sys.exit(main())
