// The compose client the tests check docker-compose.yml with, built by devstack/compose.py (never imported by
// the product). Docker Compose v5 is the `docker compose` plugin; run on its own it is `docker-compose`.
// Its own go.mod excludes two versions, so `go install github.com/docker/compose/v5/cmd@v5.6.0` refuses to
// build it; this module requires it and repeats those excludes, so the dependency graph is compose's own.
// v5.6.0 is the newest release that builds with Go 1.26.8 (v5.7 needs Go 1.26.10).
module eakte.local/compose-client

go 1.26.8

require github.com/docker/compose/v5 v5.6.0

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
