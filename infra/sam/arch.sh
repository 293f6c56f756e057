# Sourced by api.sh and sandbox.sh: this machine's Lambda architecture
# (arch, for the template's Architecture parameter and the emulator) and
# Go's name for it (goarch, for the Makefile's LAMBDA_GOARCH).
case $(uname -m) in
  x86_64) arch=x86_64 goarch=amd64 ;;
  aarch64 | arm64) arch=arm64 goarch=arm64 ;;
  *) echo "no Lambda architecture for $(uname -m)" >&2; exit 1 ;;
esac
