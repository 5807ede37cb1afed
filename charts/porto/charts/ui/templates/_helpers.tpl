{{/*
Standard helpers (prometheus-community style). Names are cut at 63 characters, the limit of
DNS-1123 labels that Kubernetes applies to most names and to label values.
*/}}

{{- define "ui.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Always `<release>-<chart>` (as the other porto subcharts): the Service is then `<release>-ui`,
the `service` label Prometheus gives the page views the dashboards read.
*/}}
{{- define "ui.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ui.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ui.labels" -}}
helm.sh/chart: {{ include "ui.chart" . }}
{{ include "ui.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: ui
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "ui.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ui.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ui.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ui.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: registry/repository, then @digest or :tag (default: appVersion). */}}
{{- define "ui.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $repository := .Values.image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end }}

{{/* Whether the monitoring.coreos.com resources render: the API exists, or forced. */}}
{{- define "ui.monitoring" -}}
{{- $m := .Values.global.monitoring -}}
{{- if and $m.enabled (or $m.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{/*
The inference API's base URL: api.url, or this release's inference Service by the inference
chart's naming rule (`<release>-inference`, cut at 63 characters) on api.port.
*/}}
{{- define "ui.apiUrl" -}}
{{- if .Values.api.url -}}
{{- .Values.api.url | trimSuffix "/" -}}
{{- else -}}
{{- printf "http://%s:%d" (printf "%s-inference" .Release.Name | trunc 63 | trimSuffix "-") (int .Values.api.port) -}}
{{- end -}}
{{- end }}

{{/*
The Secret holding the key the UI sends: global.apiKey.existingSecret; else, for this release's
API (no api.url), the one the inference chart generates by its naming rule
(`<release>-inference` cut to 55 characters, then `-api-key`; inference.apiKeySecret); else none:
an API elsewhere (api.url) gets its key through global.apiKey.existingSecret.
*/}}
{{- define "ui.apiKeySecret" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.existingSecret -}}
{{- else if not .Values.api.url -}}
{{- printf "%s-api-key" (printf "%s-inference" .Release.Name | trunc 63 | trimSuffix "-" | trunc 55 | trimSuffix "-") -}}
{{- end -}}
{{- end }}

{{- define "ui.apiKeySecretKey" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.key -}}
{{- else -}}
api-key
{{- end -}}
{{- end }}

{{/* The settings rendered into the ConfigMap: PORTO_UI_<KEY> for each `config` key. */}}
{{- define "ui.configEnv" -}}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{ printf "PORTO_UI_%s" (upper $key) }}: {{ include "ui.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A value as an environment variable's text. Helm reads every YAML number as float64, and
toString would write 10000000 as "1e+07", which no settings parser takes as an integer.
*/}}
{{- define "ui.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end }}

{{/*
The ConfigMap holding the training Job template the launcher reads: trainingLauncher.templateName,
or this release's by the training chart's naming rule (`<release>-training` cut to 50 characters,
then `-job-template`; porto.cluster.template_name_for does the same).
*/}}
{{- define "ui.trainingTemplate" -}}
{{- if .Values.trainingLauncher.templateName -}}
{{- .Values.trainingLauncher.templateName -}}
{{- else -}}
{{- printf "%s-job-template" (printf "%s-training" .Release.Name | trunc 50 | trimSuffix "-") -}}
{{- end -}}
{{- end }}
