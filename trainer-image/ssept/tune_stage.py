"""tune: ASHA search on Ray Tune; the best trial is evaluated, stored, logged and registered
exactly like a `train` run."""

from __future__ import annotations

from ssept.split import LeaveOneOutSplit
from ssept.stage_env import StageEnv
from ssept.train_stage import finalize, start_tracker
from ssept.training import resolve_device
from ssept.training_job import TrainingJob


def run_tune(
    env: StageEnv,
    job: TrainingJob,
    split: LeaveOneOutSplit,
    num_samples: int,
    grace_period: int,
    gpus_per_trial: float,
    cpus_per_trial: float,
    register: bool = True,
    experiment: str | None = None,
    ray_address: str | None = None,
) -> dict:
    from ssept.ray_tune import run_search

    best_job, state, best_metrics = run_search(job, num_samples, grace_period, gpus_per_trial, cpus_per_trial, ray_address)
    tracker = start_tracker(best_job, env, experiment)
    try:
        tracker.log_params({"tune.num_samples": num_samples, "tune.grace_period": grace_period, "tune.scheduler": "ASHA"})
        for entry in state.get("history", []):
            tracker.log_metrics(entry, step=int(entry["epoch"]))
        summary = finalize(env, best_job, split, state, tracker, register, resolve_device(best_job.device))
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return {**summary, "best_trial_metrics": {k: v for k, v in best_metrics.items() if isinstance(v, (int, float))},
            "best_model_config": best_job.model, "best_train_config": best_job.train}
