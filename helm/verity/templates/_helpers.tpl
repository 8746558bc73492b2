{{/* vim: set filetype=mustache: */}}

{{/* Chart name, overridable. */}}
{{- define "verity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: release-chart, or the release name when it already contains the chart name. */}}
{{- define "verity.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's resources: (dict "root" $ "component" "scheduler"). */}}
{{- define "verity.componentName" -}}
{{- printf "%s-%s" (include "verity.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "verity.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "worker"). Never change these on upgrade. */}}
{{- define "verity.selectorLabels" -}}
app.kubernetes.io/name: {{ include "verity.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component's resources. */}}
{{- define "verity.labels" -}}
{{ include "verity.selectorLabels" . }}
app.kubernetes.io/part-of: verity
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "verity.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations block for commonAnnotations (empty when none). */}}
{{- define "verity.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A Verity image: (dict "root" $ "repository" "verity-project/verity-worker"). */}}
{{- define "verity.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .repository (toString $tag) -}}
{{- end -}}

{{/* A third-party image from {registry, repository, tag}. */}}
{{- define "verity.plainImage" -}}
{{- printf "%s/%s:%s" .registry .repository (toString .tag) -}}
{{- end -}}

{{- define "verity.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret names: existing ones when given, else the ones keys.generate creates. */}}
{{- define "verity.keySecretName" -}}
{{- $k := index .root.Values.keys .component -}}
{{- if $k.existingSecret -}}
{{- $k.existingSecret -}}
{{- else -}}
{{- printf "%s-key" (include "verity.componentName" .) -}}
{{- end -}}
{{- end -}}

{{- define "verity.authSecretName" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-auth" (include "verity.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "verity.redisHost" -}}
{{- printf "%s.%s.svc.%s" (include "verity.componentName" (dict "root" . "component" "redis")) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* The URL every component passes to --redis / VERITY_REDIS. */}}
{{- define "verity.redisURL" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:%d" (include "verity.redisHost" .) (int .Values.redis.port) -}}
{{- else -}}
{{- .Values.redis.external.url -}}
{{- end -}}
{{- end -}}

{{/* The scheduler Service's in-cluster DNS name. */}}
{{- define "verity.schedulerHost" -}}
{{- printf "%s.%s.svc.%s" (include "verity.componentName" (dict "root" . "component" "scheduler")) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* --model flags, one per models.items entry. */}}
{{- define "verity.modelArgs" -}}
{{- range .Values.models.items }}
- --model={{ $.Values.models.mountPath }}/{{ .file }}@{{ .sha256 }}
{{- end }}
{{- end -}}

{{/* --tokenizer flags for the scheduler, one per models.items entry: it
     tokenizes text prompts with the model's own tokenizer. */}}
{{- define "verity.tokenizerArgs" -}}
{{- range .Values.models.items }}
- --tokenizer={{ $.Values.models.mountPath }}/{{ .file }}
{{- end }}
{{- end -}}

{{/* Whether the scheduler pod gets /models (scheduler.tokenizer.enabled and
     at least one model): "true" or "". */}}
{{- define "verity.schedulerNeedsModels" -}}
{{- if and .Values.scheduler.tokenizer.enabled .Values.models.items -}}true{{- end -}}
{{- end -}}

{{/* MemSync's in-cluster URL, which the scheduler dials for memory jobs. */}}
{{- define "verity.memsyncURL" -}}
{{- printf "tcp://%s.%s.svc.%s:%d" (include "verity.componentName" (dict "root" . "component" "memsync")) .Release.Namespace .Values.clusterDomain (int .Values.memsync.ports.listen) -}}
{{- end -}}

{{/* Environment every daemon shares. */}}
{{- define "verity.commonEnv" -}}
- name: VERITY_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: VERITY_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
- name: VERITY_RECV_MAX
  value: {{ int64 .Values.recvMax | quote }}
{{- end -}}

{{/* Pod annotations for Prometheus scraping: (dict "root" $ "port" 9400). */}}
{{- define "verity.metricsAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ int .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* Pod template metadata of a daemon: (dict "root" $ "component" "worker" "v" .Values.worker). */}}
{{- define "verity.podMetadata" -}}
labels:
  {{- include "verity.labels" (dict "root" .root "component" .component) | nindent 2 }}
  {{- with .v.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $ann := merge (dict) (.v.podAnnotations | default dict) (fromYaml (include "verity.metricsAnnotations" (dict "root" .root "port" .v.ports.http))) }}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod spec fields every daemon shares (identity, placement, security): (dict "root" $ "v" .Values.worker). */}}
{{- define "verity.podSpecCommon" -}}
automountServiceAccountToken: false
{{- with (include "verity.imagePullSecrets" .root) }}
{{ . }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if hasKey .v "terminationGracePeriodSeconds" }}
terminationGracePeriodSeconds: {{ int .v.terminationGracePeriodSeconds }}
{{- end }}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Liveness/readiness on the daemon's HTTP port: (dict "probes" .Values.x.probes). */}}
{{- define "verity.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: {{ int .probes.initialDelaySeconds }}
  periodSeconds: {{ int .probes.periodSeconds }}
  timeoutSeconds: {{ int .probes.timeoutSeconds }}
  failureThreshold: {{ int .probes.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  initialDelaySeconds: {{ int .probes.initialDelaySeconds }}
  periodSeconds: {{ int .probes.periodSeconds }}
  timeoutSeconds: {{ int .probes.timeoutSeconds }}
  failureThreshold: {{ int .probes.failureThreshold }}
{{- end -}}

{{/* Volumes for /models: (dict "root" $). */}}
{{- define "verity.modelVolume" -}}
{{- if eq .root.Values.models.source "pvc" }}
- name: models
  persistentVolumeClaim:
    claimName: {{ .root.Values.models.pvc.existingClaim }}
    readOnly: true
{{- else }}
- name: models
  emptyDir:
    sizeLimit: {{ .root.Values.models.download.sizeLimit }}
{{- end }}
{{- end -}}

{{/* The read-only /models mount of a daemon container: (dict "root" $). */}}
{{- define "verity.modelMount" -}}
- name: models
  mountPath: {{ .root.Values.models.mountPath }}
  readOnly: true
{{- end -}}

{{/* Init container that downloads models.items[*].url (models.source=url).
     The daemon checks the SHA-256 again before it registers; checking here
     too stops a bad download before the pod is marked started. */}}
{{- define "verity.modelDownload" -}}
{{- if and (eq .root.Values.models.source "url") .root.Values.models.items }}
- name: fetch-models
  image: {{ include "verity.plainImage" .root.Values.models.download.image }}
  imagePullPolicy: IfNotPresent
  command:
    - /bin/sh
    - -ec
    - |
      cd {{ .root.Values.models.mountPath }}
      {{- range .root.Values.models.items }}
      if ! echo "{{ .sha256 }}  {{ .file }}" | sha256sum -c - >/dev/null 2>&1; then
        curl -fsSL --retry 5 -o "{{ .file }}.part" {{ .url | quote }}
        echo "{{ .sha256 }}  {{ .file }}.part" | sha256sum -c -
        mv "{{ .file }}.part" "{{ .file }}"
      fi
      {{- end }}
  resources:
    {{- toYaml .root.Values.models.download.resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: models
      mountPath: {{ .root.Values.models.mountPath }}
{{- end }}
{{- end -}}

{{/* ---- NetworkPolicy peers ---- */}}
{{- /* Peers that may use an HTTP (health, metrics) port. */ -}}
{{- define "verity.np.httpRule" -}}
- ports:
    - port: http
      protocol: TCP
  {{- with .Values.networkPolicy.metrics.from }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- /* The agents, as defined in networkPolicy.agents. */ -}}
{{- define "verity.np.agentPeer" -}}
{{- $peer := dict -}}
{{- with .Values.networkPolicy.agents.podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end -}}
{{- with .Values.networkPolicy.agents.namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end -}}
{{- toYaml (list $peer) -}}
{{- end -}}
{{- define "verity.np.podPeer" -}}
- podSelector:
    matchLabels:
      {{- include "verity.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/*
Values validation. Every check appends its message; the chart fails once with
all of them, so an operator fixes everything in one round (Bitnami's
validateValues pattern). values.schema.json catches types and enums first.
*/}}
{{- define "verity.validateValues" -}}
{{- $messages := list -}}
{{- $messages = append $messages (include "verity.validate.redis" . | trim) -}}
{{- $messages = append $messages (include "verity.validate.keys" . | trim) -}}
{{- $messages = append $messages (include "verity.validate.models" . | trim) -}}
{{- $messages = append $messages (include "verity.validate.autoscaling" . | trim) -}}
{{- $messages = append $messages (include "verity.validate.networkPolicy" . | trim) -}}
{{- $messages = append $messages (include "verity.validate.ports" . | trim) -}}
{{- $messages = without $messages "" -}}
{{- $message := join "\n" $messages -}}
{{- if $message -}}
{{- printf "\nVALUES VALIDATION:\n%s" $message | fail -}}
{{- end -}}
{{- end -}}

{{- define "verity.validate.redis" -}}
{{- if not .Values.redis.enabled -}}
{{- $url := .Values.redis.external.url -}}
{{- if not $url -}}
verity: redis.external.url
    Set redis.external.url (redis://host:port[/db] or unix:///path/redis.sock)
    when redis.enabled=false.
{{- else if not (regexMatch "^(redis://[^/:]+:[0-9]+(/[0-9]+)?|unix:///.+)$" $url) -}}
verity: redis.external.url
    "{{ $url }}" is not redis://host:port[/db] or unix:///path. Redis Cluster,
    TLS (rediss://) and passwords in the URL are not supported (hiredis 0.14).
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verity.validate.keys" -}}
{{- if not .Values.keys.generate -}}
{{- $missing := list -}}
{{- range $c := list "scheduler" "worker" "verifier" -}}
{{- if not (index $.Values.keys $c).existingSecret -}}
{{- $missing = append $missing (printf "keys.%s.existingSecret" $c) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.auth.existingSecret -}}
{{- $missing = append $missing "auth.existingSecret" -}}
{{- end -}}
{{- if $missing -}}
verity: keys
    keys.generate=false needs existing Secrets; missing: {{ join ", " $missing }}.
    Create them with `verity keygen --out FILE` (node and scheduler keys) and
    `verity keygen --secret --out FILE` (auth secret), then
    `kubectl create secret generic NAME --from-file=KEY=FILE`.
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verity.validate.models" -}}
{{- $names := list -}}
{{- range .Values.models.items }}{{ if .name }}{{ $names = append $names .name }}{{ end }}{{ end -}}
{{- if ne (len $names) (len (uniq $names)) -}}
verity: models.items[].name
    Model names must be unique: {{ join ", " $names }}.
{{ end -}}
{{- if and .Values.worker.identity (has "identity" $names) -}}
verity: models.items[].name
    "identity" names the built-in benchmark model when worker.identity=true;
    pick another name.
{{ end -}}
{{- if and (not .Values.models.items) (not .Values.worker.identity) -}}
verity: models.items
    Workers have nothing to serve: list at least one model in models.items
    ({name, file, sha256[, url]}) or set worker.identity=true (benchmark mode).
{{- else if .Values.models.items -}}
{{- if and (eq .Values.models.source "pvc") (not .Values.models.pvc.existingClaim) -}}
verity: models.pvc.existingClaim
    models.source=pvc needs models.pvc.existingClaim (a PVC holding the GGUF
    files), or use models.source=url with a url on every item.
{{- end -}}
{{- if eq .Values.models.source "url" -}}
{{- range .Values.models.items -}}
{{- if not .url -}}
verity: models.items[{{ .name | default .file }}].url
    models.source=url needs a url on every item.
{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verity.validate.autoscaling" -}}
{{- $a := .Values.worker.autoscaling -}}
{{- if $a.enabled -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
verity: worker.autoscaling
    minReplicas ({{ $a.minReplicas }}) is greater than maxReplicas ({{ $a.maxReplicas }}).
{{ end -}}
{{- if and (eq $a.type "keda") (not $a.keda.prometheusServerAddress) -}}
verity: worker.autoscaling.keda.prometheusServerAddress
    type=keda reads the queue depth from Prometheus: set the address of the
    Prometheus that scrapes the scheduler.
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verity.validate.networkPolicy" -}}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.agents.podSelector) (not .Values.networkPolicy.agents.namespaceSelector) -}}
verity: networkPolicy.agents
    Set networkPolicy.agents.podSelector and/or namespaceSelector: with both
    empty the agent port would be open to every pod.
{{- end -}}
{{- end -}}

{{- define "verity.validate.ports" -}}
{{- $p := .Values.scheduler.ports -}}
{{- $all := list (int $p.agent) (int $p.worker) (int $p.verifier) (int $p.http) -}}
{{- if ne (len $all) (len (uniq $all)) -}}
verity: scheduler.ports
    The scheduler's agent, worker, verifier and http ports must differ.
{{- end -}}
{{- end -}}
