"""Pure logic of the add-on (standard library + numpy, no bpy): frame plans, output folders, PNG
files, the kino.json sidecar, --param parsing and the JobSession state machine that drives a job."""
