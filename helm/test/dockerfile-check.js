#!/usr/bin/env node
// Parse and lint docker/*.Dockerfile. CI has no Docker engine, so the images
// are never built there; this is what checks them instead:
//   1. dockerfile-utils lint (syntax, instruction arguments): any diagnostic,
//      warning or error, fails;
//   2. the structure the chart relies on, read with dockerfile-ast: each
//      runtime stage runs as a numeric non-root user, carries the OCI version
//      label, installs only the runtime libraries, holds its one program at
//      /usr/local/bin/<name> (the chart's `command:`), and the worker's
//      runtime is an nvidia/cuda *-runtime-* image.
//
// usage: node dockerfile-check.js <repo root>
"use strict";
const fs = require("fs");
const path = require("path");
const utils = require("dockerfile-utils");
const ast = require("dockerfile-ast");

const root = process.argv[2];
if (!root) {
  console.error("usage: dockerfile-check.js <repo root>");
  process.exit(2);
}

// What each image must contain: Dockerfile -> runtime stage -> program.
const EXPECT = {
  "docker/Dockerfile": {
    scheduler: "verity-scheduler",
    verifier: "verity-verifier",
    memsync: "verity-memsync",
    cli: "verity",
  },
  "docker/worker.Dockerfile": { worker: "verity-worker" },
};
const RUNTIME_PACKAGES = new Set(["libnng1", "libhiredis0.14", "libmsgpackc2", "libsodium23", "ca-certificates"]);
const BUILD_PACKAGES = ["libnng-dev", "libhiredis-dev", "libmsgpack-dev", "libsodium-dev", "cmake"];

let problems = [];
const fail = (file, msg) => problems.push(`${file}: ${msg}`);

// Default values of ARGs declared before the first FROM, for FROM lines.
function initialArgs(df) {
  const vals = {};
  for (const a of df.getInitialARGs()) {
    for (const p of a.getProperties()) vals[p.getName()] = p.getValue() || "";
  }
  return vals;
}

function expand(s, vars) {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a, b) => {
    const v = vars[a || b];
    return v === undefined ? m : v;
  });
}

// Split the file's instructions into stages, in order.
function stages(df) {
  const out = [];
  let cur = null;
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === "FROM") {
      cur = { from: ins, name: ins.getBuildStage(), ins: [] };
      out.push(cur);
    } else if (cur) {
      cur.ins.push(ins);
    }
  }
  return out;
}

// A stage and the stages it is built FROM, nearest first.
function lineage(all, stage) {
  const chain = [stage];
  let s = stage;
  for (;;) {
    const base = s.from.getImageName();
    const parent = all.find((p) => p.name && p.name === base && p !== s);
    if (!parent) return chain;
    chain.push(parent);
    s = parent;
  }
}

function aptInstalls(stage) {
  const pkgs = [];
  for (const ins of stage.ins) {
    if (ins.getKeyword() !== "RUN") continue;
    const text = (ins.getArgumentsContent() || "").replace(/\\\n/g, " ");
    for (const m of text.matchAll(/apt-get install([^&;|]*)/g)) {
      for (const w of m[1].split(/\s+/)) if (w && !w.startsWith("-")) pkgs.push(w);
    }
  }
  return pkgs;
}

for (const [rel, targets] of Object.entries(EXPECT)) {
  const file = path.join(root, rel);
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    fail(rel, `cannot read: ${e.message}`);
    continue;
  }
  for (const d of utils.validate(text)) {
    fail(rel, `line ${d.range.start.line + 1}: ${d.message}`);
  }
  const df = ast.DockerfileParser.parse(text);
  const vars = initialArgs(df);
  const all = stages(df);
  const build = all.find((s) => s.name === "build");
  if (!build) {
    fail(rel, "no stage named build");
  } else {
    const pk = aptInstalls(build);
    const runs = build.ins.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() || "").join("\n");
    for (const want of BUILD_PACKAGES) if (!pk.includes(want)) fail(rel, `build stage does not install ${want}`);
    if (!/cmake --build/.test(runs)) fail(rel, "build stage does not run cmake --build");
  }
  for (const [target, program] of Object.entries(targets)) {
    const stage = all.find((s) => s.name === target);
    if (!stage) {
      fail(rel, `no runtime stage "${target}" (docker build --target ${target})`);
      continue;
    }
    const chain = lineage(all, stage);
    const ins = chain.flatMap((s) => s.ins);
    // The user of the stage is its last USER, else its parent's.
    let user = null;
    for (const s of chain) {
      const us = s.ins.filter((i) => i.getKeyword() === "USER");
      if (us.length) {
        user = us[us.length - 1].getArgumentsContent().trim();
        break;
      }
    }
    if (!user || !/^[1-9][0-9]*(:[1-9][0-9]*)?$/.test(user)) {
      fail(rel, `${target}: USER must be a numeric non-root uid (the chart sets runAsNonRoot), got ${user}`);
    }
    const labels = {};
    for (const i of ins) {
      if (i.getKeyword() !== "LABEL") continue;
      for (const p of i.getProperties()) if (!(p.getName() in labels)) labels[p.getName()] = p.getValue();
    }
    for (const l of ["org.opencontainers.image.version", "org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.revision"]) {
      if (!(l in labels)) fail(rel, `${target}: no ${l} label`);
    }
    const chainNames = new Set(chain.map((s) => s.name));
    if (chainNames.has("build")) fail(rel, `${target}: runtime stage is built on the build stage`);
    for (const s of chain) {
      for (const p of aptInstalls(s)) {
        if (!RUNTIME_PACKAGES.has(p)) fail(rel, `${target}: runtime stage installs ${p} (only ${[...RUNTIME_PACKAGES].join(", ")})`);
      }
    }
    const copies = ins.filter((i) => i.getKeyword() === "COPY");
    const dest = `/usr/local/bin/${program}`;
    const binCopies = copies.filter((c) => /--from=build/.test(c.getFlags().map((f) => `--${f.getName()}=${f.getValue()}`).join(" ")));
    if (binCopies.length !== 1 || !(binCopies[0].getArgumentsContent() || "").includes(`/build/bin/${program} ${dest}`)) {
      fail(rel, `${target}: must copy exactly /build/bin/${program} to ${dest} from the build stage`);
    }
    const base = expand(chain[chain.length - 1].from.getImage() || "", vars);
    if (target === "worker") {
      if (!/^nvidia\/cuda:\d+\.\d+\.\d+-runtime-(ubuntu|debian)\d+(\.\d+)?$/.test(base)) {
        fail(rel, `worker: runtime base ${base} is not nvidia/cuda:<version>-runtime-<distro>`);
      }
    } else if (!/^debian:12(-slim)?$/.test(base)) {
      fail(rel, `${target}: runtime base ${base} is not debian:12`);
    }
  }
}

if (problems.length) {
  for (const p of problems) console.error("FAIL " + p);
  process.exit(1);
}
console.log(`Dockerfiles parse, lint clean, and match the chart: ${Object.keys(EXPECT).join(", ")}`);
