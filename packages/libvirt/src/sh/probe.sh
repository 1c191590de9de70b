#!/bin/sh
# probe: does nothing. Whether the host answers and presents its pinned key (the worker's check at start-up);
# a named script rather than a bare `true`, so the SSH metric labels it `probe`, not `other`.
:
