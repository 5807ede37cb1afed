{{/*
Standard helpers (prometheus-community style). Names are cut at 63 characters, the limit of
DNS-1123 labels that Kubernetes applies to most names and to label values.
*/}}

{{- define "inference.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Always `<release>-<chart>`: the usual shortcut (the release name alone when it contains the chart
name) would give two subcharts of one release the same names (release `minio-postgres-lab`).
*/}}
{{- define "inference.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "inference.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "inference.labels" -}}
helm.sh/chart: {{ include "inference.chart" . }}
{{ include "inference.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "inference.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inference.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inference.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inference.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: registry/repository, then @digest or :tag (default: appVersion). */}}
{{- define "inference.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $repository := .Values.image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end }}

{{/*
The name another porto subchart of this release gives its resources, by the same rule as its
own `<chart>.fullname` (the peer must not use name/fullnameOverride for the wiring to hold).
Usage: include "inference.peerName" (list . "postgres")
*/}}
{{- define "inference.peerName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" $ctx.Release.Name (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* Whether the monitoring.coreos.com resources render: the API exists, or forced. */}}
{{- define "inference.monitoring" -}}
{{- $m := .Values.global.monitoring -}}
{{- if and $m.enabled (or $m.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{/* Secret and key holding the PostgreSQL URL: an existing Secret, or the postgres subchart's. */}}
{{- define "inference.databaseSecret" -}}
{{- if .Values.global.database.existingSecret -}}
{{- .Values.global.database.existingSecret -}}
{{- else -}}
{{- include "inference.peerName" (list . "postgres") -}}
{{- end -}}
{{- end }}

{{- define "inference.databaseSecretKey" -}}
{{- if .Values.global.database.existingSecret -}}
{{- .Values.global.database.urlKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end }}

{{/*
Secret and key holding the API key: global.apiKey.existingSecret, or the one this chart generates
(`<fullname>-api-key`, key `api-key`, kept across upgrades). The umbrella's `helm test` pod and
the ui chart derive the same name: keep them in step (porto.apiKeySecret, ui.apiKeySecret).
*/}}
{{- define "inference.apiKeySecret" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.existingSecret -}}
{{- else -}}
{{- printf "%s-api-key" (include "inference.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}
{{- end }}

{{- define "inference.apiKeySecretKey" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.key -}}
{{- else -}}
api-key
{{- end -}}
{{- end }}

{{/* Secret holding the S3 keys: an existing Secret, or the minio subchart's. */}}
{{- define "inference.s3Secret" -}}
{{- .Values.global.objectStore.existingSecret | default (include "inference.peerName" (list . "minio")) -}}
{{- end }}

{{/* S3 endpoint: the configured one with an existing Secret (empty = AWS), else in-release MinIO. */}}
{{- define "inference.s3Endpoint" -}}
{{- if .Values.global.objectStore.existingSecret -}}
{{- .Values.global.objectStore.endpoint -}}
{{- else -}}
{{- printf "http://%s:%d" (include "inference.peerName" (list . "minio")) 9000 -}}
{{- end -}}
{{- end }}

{{- define "inference.storeUri" -}}
{{- $o := .Values.global.objectStore -}}
{{- printf "s3://%s/%s" $o.bucket ($o.prefix | trimAll "/") | trimSuffix "/" -}}
{{- end }}

{{/* The settings rendered into the ConfigMap: PORTO_INFERENCE_<KEY> for each `config` key. */}}
{{- define "inference.configEnv" -}}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{ printf "PORTO_INFERENCE_%s" (upper $key) }}: {{ include "inference.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A value as an environment variable's text. Helm reads every YAML number as float64, and
toString would write 67108864 as "6.7108864e+07", which no settings parser takes as an integer.
*/}}
{{- define "inference.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end }}
