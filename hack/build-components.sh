#!/usr/bin/env bash
# Builds or collects the real programs the local environment runs, and caches them by
# version under $WEIR_CACHE (default ~/.cache/weir). Each component is skipped when its
# cached binaries already exist, so a warm run takes well under a second.
#
#   hack/build-components.sh [kube|etcd|helm|kafka|flink|debian|promtool|all]...
#
# Go programs come from the Go module proxy, Kafka's and Flink's jars from Maven Central, Redis,
# PostgreSQL and promtool from Debian's packages. Versions are pinned in hack/versions.env.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${WEIR_CACHE:-$HOME/.cache/weir}
mkdir -p "$cache"

log() { printf '[weir build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Runs a command with its output in a log file, printing the log's tail if it fails.
quietly() {
  local logfile=$1; shift
  mkdir -p "$(dirname "$logfile")"
  if ! "$@" >>"$logfile" 2>&1; then
    log "failed: $*"
    tail -n 40 "$logfile" >&2
    return 1
  fi
}

# A Go wrapper module: k8s.io/kubernetes pins its staging modules at v0.0.0 with
# replace lines that Go ignores in a dependency, so the wrapper supplies them.
build_kube() {
  local v=$KUBE_VERSION out=$cache/kube/$KUBE_VERSION
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0 b
  for b in "${bins[@]}"; do [[ -x $out/bin/$b ]] || missing=1; done
  ((missing)) || { log "kubernetes $v: cached"; return; }
  log "kubernetes $v: building ${bins[*]} from the Go module proxy (10-20 minutes cold)"
  local src=$out/src
  mkdir -p "$src" "$out/bin"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  local minor=${v#v1.}; minor=${minor%%.*}
  local staging_version="v0.$minor.${v##*.}"
  {
    echo "module weir.dev/localenv/kube"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do echo "	$m => $m $staging_version"; done
    echo ")"
  } >"$src/go.mod"
  (
    cd "$src"
    local pkgs=() ldflags
    for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    log "kubernetes $v: resolving modules (log: $src/build.log)"
    GOFLAGS=-mod=mod quietly "$src/build.log" go get "${pkgs[@]/%/@$v}"
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$v"
    for b in "${bins[@]}"; do
      log "kubernetes $v: compiling $b"
      quietly "$src/build.log" go build -trimpath -ldflags "$ldflags" -o "$out/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b"
      mv "$out/bin/$b.tmp" "$out/bin/$b"
    done
  )
  log "kubernetes $v: done"
}

build_etcd() {
  local v=$ETCD_VERSION out=$cache/etcd/$ETCD_VERSION
  [[ -x $out/bin/etcd ]] && { log "etcd $v: cached"; return; }
  log "etcd $v: building from the Go module proxy"
  mkdir -p "$out/src" "$out/bin"
  (
    cd "$out/src"
    printf 'module weir.dev/localenv/etcd\n\ngo 1.24\n' >go.mod
    GOFLAGS=-mod=mod quietly build.log go get "go.etcd.io/etcd/server/v3@$v"
    quietly build.log go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "$out/bin/etcd.tmp" "$out/bin/etcd"
  )
  log "etcd $v: done"
}

build_helm() {
  local v=$HELM_VERSION out=$cache/helm/$HELM_VERSION
  [[ -x $out/bin/helm ]] && { log "helm $v: cached"; return; }
  log "helm $v: building from the Go module proxy"
  mkdir -p "$out/bin"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  GOBIN=$out/bin quietly "$out/build.log" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$v"
  log "helm $v: done"
}

# Kafka publishes no binary distribution to Maven Central; the broker and its tools are
# the kafka_2.13 artifact and its dependencies, plus a log4j backend the POM leaves out.
build_kafka() {
  local v=$KAFKA_VERSION out=$cache/kafka/$KAFKA_VERSION
  [[ -f $out/libs/.complete ]] && { log "kafka $v: cached"; return; }
  log "kafka $v: collecting jars from Maven Central"
  mkdir -p "$out"
  cat >"$out/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.weir.localenv</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$out/libs"
  quietly "$out/build.log" mvn -B -Dstyle.color=never -f "$out/pom.xml" dependency:copy-dependencies -DoutputDirectory="$out/libs" -DincludeScope=runtime
  touch "$out/libs/.complete"
  log "kafka $v: done ($(ls "$out/libs" | wc -l) jars)"
}

# Flink publishes no distribution to Maven Central either (flink-dist is not served): the
# session cluster is its runtime, table, SQL Gateway and connector jars in one lib folder,
# as a distribution's lib/ would hold them, with a log4j backend.
build_flink() {
  local v=$FLINK_VERSION out=$cache/flink/$FLINK_VERSION-$FLINK_KAFKA_CONNECTOR_VERSION
  [[ -f $out/libs/.complete ]] && { log "flink $v: cached"; return; }
  log "flink $v: collecting jars from Maven Central"
  mkdir -p "$out"
  local deps="" a
  for a in flink-runtime flink-clients flink-table-planner-loader flink-table-runtime flink-table-api-java \
    flink-table-api-java-bridge flink-sql-gateway flink-json flink-connector-files flink-rpc-akka-loader \
    flink-runtime-web; do
    deps+="<dependency><groupId>org.apache.flink</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
  done
  deps+="<dependency><groupId>org.apache.flink</groupId><artifactId>flink-sql-connector-kafka</artifactId><version>$FLINK_KAFKA_CONNECTOR_VERSION</version></dependency>"
  for a in log4j-slf4j-impl log4j-core log4j-api log4j-1.2-api; do
    deps+="<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>$a</artifactId><version>$FLINK_LOG4J_VERSION</version></dependency>"
  done
  cat >"$out/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.weir.localenv</groupId>
  <artifactId>flink-libs</artifactId>
  <version>1</version>
  <dependencies>$deps</dependencies>
</project>
POM
  rm -rf "$out/libs"
  quietly "$out/build.log" mvn -B -Dstyle.color=never -f "$out/pom.xml" dependency:copy-dependencies -DoutputDirectory="$out/libs" -DincludeScope=runtime
  touch "$out/libs/.complete"
  log "flink $v: done ($(ls "$out/libs" | wc -l) jars)"
}

# Redis and PostgreSQL servers come from Debian's packages when the machine lacks them.
build_debian() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  [[ -x /usr/lib/postgresql/$PG_MAJOR/bin/postgres ]] || need+=("postgresql-$PG_MAJOR")
  ((${#need[@]})) || { log "redis-server, postgresql-$PG_MAJOR: present"; return; }
  log "installing ${need[*]} from Debian's packages"
  local sudo=""
  ((EUID == 0)) || sudo=sudo
  local logfile=$cache/debian/install.log
  quietly "$logfile" $sudo apt-get update -qq
  # The packages' own services are not wanted: the local environment starts its own.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 quietly "$logfile" $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
  log "debian packages: done"
}

# promtool, which checks and unit-tests the chart's alerting rules, comes from Debian's
# prometheus package. Only the package's files are unpacked into the cache, not installed:
# installing would add a Prometheus server as a system service and a dozen web libraries.
build_promtool() {
  local v=$PROMETHEUS_VERSION out=$cache/prometheus/$PROMETHEUS_VERSION
  [[ -x $out/bin/promtool ]] && { log "promtool $v: cached"; return; }
  log "promtool $v: unpacking Debian's prometheus package"
  local logfile=$out/build.log work=$out/deb
  rm -rf "$work"
  mkdir -p "$work" "$out/bin"
  local candidate
  candidate=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
  if [[ $candidate != "$v"* ]]; then
    local sudo=""
    ((EUID == 0)) || sudo=sudo
    quietly "$logfile" $sudo apt-get update -qq
    candidate=$(apt-cache policy prometheus | sed -n 's/^ *Candidate: //p')
  fi
  [[ $candidate == "$v"* ]] || { log "Debian offers prometheus ${candidate:-(none)}, not $v"; return 1; }
  (cd "$work" && quietly "$logfile" apt-get download "prometheus=$candidate")
  quietly "$logfile" dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  mv "$work/root/usr/bin/promtool" "$out/bin/promtool"
  rm -rf "$work"
  log "promtool $v: done ($("$out/bin/promtool" --version 2>&1 | head -n1))"
}

targets=("$@")
((${#targets[@]})) || targets=(all)
for t in "${targets[@]}"; do
  case $t in
    kube) build_kube ;;
    etcd) build_etcd ;;
    helm) build_helm ;;
    kafka) build_kafka ;;
    flink) build_flink ;;
    debian) build_debian ;;
    promtool) build_promtool ;;
    all) build_debian; build_promtool; build_kafka; build_flink; build_etcd; build_helm; build_kube ;;
    *) echo "unknown component: $t" >&2; exit 2 ;;
  esac
done
