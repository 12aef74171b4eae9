"""`python -m lambdafan.local_cloud`: see `lambdafan.local_cloud.serve`."""

import sys

from lambdafan.local_cloud.serve import main

sys.exit(main())
