#!/usr/bin/env bash
# Runs the page test (ScorePageBrowserTest) in a real headless Chromium, installing Debian's chromium and
# chromium-driver first when they are missing (needs root for apt-get). Screenshots: app/target/serve-browser/*.png
#   app/src/test/browser/run.sh            (from anywhere)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  if [[ $(id -u) -ne 0 ]]; then echo "run.sh: chromium/chromedriver missing and not root; install: apt-get install chromium chromium-driver" >&2; exit 2; fi
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
fi
cd "$ROOT"
mvn -q -o -pl app -am -Dgptneo.build.dir="${GPTNEO_BUILD_DIR:-target}" test \
    -Dtest=ScorePageBrowserTest -Dsurefire.failIfNoSpecifiedTests=false
ls -l "$ROOT/app/target/serve-browser/"*.png
