// Posts the offline plan diff of a pull request as ONE comment, updated in place on every push.
// Runs from pr-comment.yml (workflow_run, default branch code, pull-requests: write) through
// actions/github-script, so that fork PRs, whose own token cannot comment, get the comment too.
// The artifact comes from an untrusted run: the PR number must be digits and the PR's head must be
// the commit the run tested; the diff is only ever text in the comment body.
"use strict";

const fs = require("fs");
const path = require("path");

const MARKER = "<!-- sse-pt-platform:plan-diff -->";
const ARTIFACT = "plan-diff";
const MAX_BODY = 60000;

/** The body: marker, diff (truncated to what GitHub accepts) and where it came from. */
function commentBody(diff, runUrl) {
  let text = String(diff);
  if (text.length > MAX_BODY)
    text = text.slice(0, MAX_BODY) + "\n\n… truncated; the full diff is in the run's job summary.";
  return `${MARKER}\n${text}\n\n<sub>From [the PR workflow run](${runUrl}).</sub>`;
}

/** Creates the comment, or edits the one this workflow made before (found by its marker). */
async function upsertComment(github, { owner, repo, issueNumber, body }) {
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  const mine = comments.find(
    (c) => c.user && c.user.type === "Bot" && String(c.body || "").startsWith(MARKER),
  );
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
    return { action: "updated", id: mine.id };
  }
  const created = await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
  return { action: "created", id: created.data.id };
}

/** Downloads the run's plan-diff artifact and unpacks it into `dir`; returns the files' text. */
async function readArtifact(github, { owner, repo, runId, dir, unzip }) {
  const { data } = await github.rest.actions.listWorkflowRunArtifacts({
    owner,
    repo,
    run_id: runId,
    per_page: 100,
  });
  const artifact = data.artifacts.find((a) => a.name === ARTIFACT);
  if (!artifact) return null;
  const zip = await github.rest.actions.downloadArtifact({
    owner,
    repo,
    artifact_id: artifact.id,
    archive_format: "zip",
  });
  const zipPath = path.join(dir, `${ARTIFACT}.zip`);
  fs.writeFileSync(zipPath, Buffer.from(zip.data));
  const out = path.join(dir, ARTIFACT);
  fs.mkdirSync(out, { recursive: true });
  await unzip(zipPath, out);
  const read = (name) => {
    const file = path.join(out, name);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
  };
  return { prNumber: read("pr-number"), diff: read("diff.md") };
}

/** github-script entry: `await require('./.github/scripts/pr-comment.js').run({github, context, core, exec})`. */
async function run({ github, context, core, exec, dir = process.env.RUNNER_TEMP || "/tmp" }) {
  const wr = context.payload.workflow_run;
  const { owner, repo } = context.repo;
  const unzip = (zipPath, out) => exec.exec("python3", ["-m", "zipfile", "-e", zipPath, out]);
  const artifact = await readArtifact(github, { owner, repo, runId: wr.id, dir, unzip });
  if (!artifact || artifact.prNumber === null || artifact.diff === null) {
    core.info(`run ${wr.id} left no ${ARTIFACT} artifact; nothing to post`);
    return null;
  }
  const prNumber = artifact.prNumber.trim();
  if (!/^[1-9][0-9]{0,9}$/.test(prNumber))
    throw new Error(`artifact pr-number ${JSON.stringify(prNumber.slice(0, 40))} is not a PR number`);
  const { data: pr } = await github.rest.pulls.get({ owner, repo, pull_number: Number(prNumber) });
  if (pr.head.sha !== wr.head_sha) {
    core.warning(
      `PR #${prNumber} head is ${pr.head.sha}, the run tested ${wr.head_sha}: not posting a stale or foreign diff`,
    );
    return null;
  }
  const result = await upsertComment(github, {
    owner,
    repo,
    issueNumber: Number(prNumber),
    body: commentBody(artifact.diff, wr.html_url),
  });
  core.info(`${result.action} comment ${result.id} on PR #${prNumber}`);
  return result;
}

module.exports = { MARKER, commentBody, upsertComment, readArtifact, run };
