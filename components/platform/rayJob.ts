import * as yaml from "js-yaml";
import { nonRootPod, restrictedContainer, TRAINER_UID } from "./containerSecurity";
import { RAY_API_VERSION, RAY_JOB_FAILED, RayJob, RayJobStatus } from "./rayTypes";

/**
 * What one training run is made of, each value a string as it reaches `ssept train`'s command
 * line: literals, or (in the pipeline) Argo expressions such as `{{workflow.parameters.lr}}`.
 */
export interface TrainingRun {
  /** Names the RayJob, the run (`--run-name`: models/<dataset>/<run>, checkpoints, MLflow run). */
  name: string;
  dataset: string;
  dataVersion: string;
  epochs: string;
  lr: string;
  /** Names the model and training values not given (`--preset`; `dataset` = the dataset's own). */
  preset: string;
  maxlen: string;
  itemDim: string;
  userDim: string;
  blocks: string;
  dropout: string;
  sseUser: string;
  sseItem: string;
  windowSampleProb: string;
  numWorkers: string;
  gpusPerWorker: string;
  gitCommit: string;
}

export interface TrainingJobInput {
  namespace: string;
  /** The RayCluster the job is submitted to. */
  clusterName: string;
  /** The trainer image, for the submitter pod (it only runs `ray job submit`). */
  image: string;
  run: TrainingRun;
}

/** A training run may take this long before KubeRay fails the RayJob (a GPU window is 4 h). */
export const TRAIN_DEADLINE_SECONDS = 4 * 3600;
export const SUBMITTER_LABELS = {
  "app.kubernetes.io/name": "ray-job-submitter",
  "app.kubernetes.io/part-of": "sse-pt-platform",
} as const;

/**
 * `ssept train` options and the TrainingRun field each one takes. A hyper-parameter given as
 * `default` is left to the preset (`ssept/presets.py`), so each data set trains with its own.
 */
export const TRAIN_OPTIONS: readonly (readonly [string, keyof TrainingRun])[] = [
  ["--dataset", "dataset"],
  ["--data-version", "dataVersion"],
  ["--run-name", "name"],
  ["--preset", "preset"],
  ["--epochs", "epochs"],
  ["--lr", "lr"],
  ["--maxlen", "maxlen"],
  ["--item-dim", "itemDim"],
  ["--user-dim", "userDim"],
  ["--num-blocks", "blocks"],
  ["--dropout", "dropout"],
  ["--sse-user-keep", "sseUser"],
  ["--sse-item-keep", "sseItem"],
  ["--window-sample-prob", "windowSampleProb"],
  ["--ray-workers", "numWorkers"],
  ["--ray-gpus-per-worker", "gpusPerWorker"],
];

/** The driver command; `--tracking mlflow` makes a missing tracking URI an error, not a silent skip. */
export function trainingEntrypoint(run: TrainingRun): string {
  return [
    "ssept",
    "train",
    ...TRAIN_OPTIONS.flatMap(([option, field]) => [option, run[field]]),
    "--tracking",
    "mlflow",
  ].join(" ");
}

/** Argo resource-step conditions on the RayJob's `status.jobStatus`. */
export const RAY_JOB_SUCCEEDED: RayJobStatus = "SUCCEEDED";
export const RAY_JOB_CONDITIONS = {
  success: `status.jobStatus == ${RAY_JOB_SUCCEEDED}`,
  failure: `status.jobStatus in (${RAY_JOB_FAILED.join(", ")})`,
} as const;

/**
 * The RayJob of one training run, submitted to the long-lived RayCluster (`clusterSelector`), so
 * the run uses its autoscaled GPU workers. The driver runs on the head, which has the S3 and MLflow
 * settings; the run's code version travels in the runtime environment.
 */
export function trainingRayJob(input: TrainingJobInput): RayJob {
  return {
    apiVersion: RAY_API_VERSION,
    kind: "RayJob",
    metadata: {
      name: input.run.name,
      namespace: input.namespace,
      labels: { "app.kubernetes.io/name": "ssept-train", "app.kubernetes.io/part-of": "sse-pt-platform" },
    },
    spec: {
      clusterSelector: { "ray.io/cluster": input.clusterName },
      entrypoint: trainingEntrypoint(input.run),
      runtimeEnvYAML: yaml.dump({ env_vars: { GIT_COMMIT: input.run.gitCommit } }),
      submissionMode: "K8sJobMode",
      activeDeadlineSeconds: TRAIN_DEADLINE_SECONDS,
      // Ray Train restarts failed workers from the last checkpoint itself.
      backoffLimit: 0,
      submitterPodTemplate: {
        metadata: { labels: { ...SUBMITTER_LABELS } },
        spec: {
          restartPolicy: "Never",
          securityContext: nonRootPod(TRAINER_UID),
          containers: [
            {
              name: "ray-job-submitter",
              image: input.image,
              resources: {
                requests: { cpu: "100m", memory: "256Mi" },
                limits: { cpu: "500m", memory: "512Mi" },
              },
              securityContext: restrictedContainer(),
            },
          ],
        },
      },
    },
  };
}
