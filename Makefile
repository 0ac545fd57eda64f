# The README's two commands: `make demo` and `make test`. Both create the environments when missing.
.PHONY: demo test test-fast envs extension api-check gpu-wheels clean

envs:
	scripts/setup_env.sh all

demo: envs
	.venv-backend/bin/python scripts/demo.py

test: envs
	scripts/run_tests.sh

test-fast: envs
	scripts/run_tests.sh -m "not slow"

extension: envs
	.venv-blender/bin/python scripts/build_extension.py

api-check:  # the add-on's bpy usage against each release's generated API stubs (names + pyright)
	scripts/setup_env.sh apicheck
	.venv-apicheck/bin/python scripts/check_bpy_api.py

gpu-wheels:  # what scripts/gpu_checks.sh needs on a lent GPU machine (see docs/DEVELOPING.md)
	scripts/gpu_checks.sh --fetch-wheels

clean:
	rm -rf dist build .pytest_cache
