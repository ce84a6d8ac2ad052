"""Training runs: create, cancel, execute on the `training` worker, sweep dead workers.

A run fine-tunes a segmentation model version on reviewed label snapshots (and, if asked,
public datasets) with the CPU training stack (`damage_vision.training`), then packages
and registers the result as a **candidate** version; promoting it stays a person's call.
By concern: `validation` (checking a start), `starting` (creating and cancelling a run),
`worker` (claiming, failing and sweeping runs), `progress` (heartbeat, log, progress row),
`training` (the config and the task body), `packaging` and `calibration` (the candidate).
Callers use `learning.services.<name>`; the Celery tasks stay in `learning.tasks`.
"""

from learning.services.progress import PROGRESS_EVERY_S
from learning.services.starting import (
    LOG,
    TRAINING_TASK,
    training_root,
    training_run_cancel,
    training_run_create,
)
from learning.services.training import (
    CONFIG,
    training_run_config,
    training_run_execute,
)
from learning.services.validation import PUBLIC_LIMIT_MAX, SCHEDULE_BOUNDS
from learning.services.worker import (
    training_run_claim,
    training_run_fail,
    training_runs_sweep,
)

__all__ = [
    "CONFIG",
    "LOG",
    "PROGRESS_EVERY_S",
    "PUBLIC_LIMIT_MAX",
    "SCHEDULE_BOUNDS",
    "TRAINING_TASK",
    "training_root",
    "training_run_cancel",
    "training_run_claim",
    "training_run_config",
    "training_run_create",
    "training_run_execute",
    "training_run_fail",
    "training_runs_sweep",
]
