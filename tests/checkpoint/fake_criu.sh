#!/bin/sh
# A fake criu for tests (see fake_criu.ts): fd 3 is the swrk socket.
exec deno run -A --quiet "$(dirname "$0")/fake_criu.ts" "$@"
