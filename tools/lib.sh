# tools/lib.sh: settings shared by the tools/ scripts (sourced, not run).
# The cache lives outside the clone so that costly artifacts (the guest
# kernel, the arm64 sysroot) survive fresh clones on the same machine.
: "${TORPOR_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/torpor}"
export TORPOR_CACHE
