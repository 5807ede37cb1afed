{{/* Standard helpers (prometheus-community style); names cut at 63 characters. */}}

{{- define "porto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "porto.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "porto.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "porto.labels" -}}
helm.sh/chart: {{ include "porto.chart" . }}
{{ include "porto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "porto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "porto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The test pod needs no Kubernetes API access: it runs as `default` with no token mounted. */}}
{{- define "porto.serviceAccountName" -}}
{{- default "default" .Values.tests.serviceAccountName }}
{{- end }}

{{/* A subchart's resource name, by its `<chart>.fullname` rule (always `<release>-<chart>`). */}}
{{- define "porto.subchartName" -}}
{{- $ctx := index . 0 -}}
{{- $sub := index . 1 -}}
{{- $values := index $ctx.Values $sub | default dict -}}
{{- if $values.fullnameOverride }}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" $ctx.Release.Name (default $sub $values.nameOverride) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The Secret and key holding the API key, as the inference chart names them
(inference.apiKeySecret): global.apiKey.existingSecret, or the generated `<inference>-api-key`.
*/}}
{{- define "porto.apiKeySecret" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.existingSecret -}}
{{- else -}}
{{- printf "%s-api-key" (include "porto.subchartName" (list . "inference") | trunc 55 | trimSuffix "-") -}}
{{- end -}}
{{- end }}

{{- define "porto.apiKeySecretKey" -}}
{{- if .Values.global.apiKey.existingSecret -}}
{{- .Values.global.apiKey.key -}}
{{- else -}}
api-key
{{- end -}}
{{- end }}

{{/*
A porto subchart's image, as that subchart computes it: registry/repository, then @digest or
:tag (default: the subchart's appVersion; porto's own charts share the umbrella's). The test
pod runs the inference image; NOTES lists porto's images.
Usage: include "porto.image" (list . "inference")
*/}}
{{- define "porto.image" -}}
{{- $ctx := index . 0 -}}
{{- $name := index . 1 -}}
{{- $image := (index $ctx.Values $name).image -}}
{{- $appVersion := (index $ctx.Subcharts $name).Chart.AppVersion -}}
{{- $registry := $ctx.Values.global.imageRegistry | default $image.registry -}}
{{- $repository := $image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default $appVersion | toString) -}}
{{- end -}}
{{- end }}

{{/*
The enabled porto subcharts whose image names no registry (a bare local name such as
`porto-inference`): they run only if loaded into the nodes. Space-separated; empty if none.
*/}}
{{- define "porto.localImages" -}}
{{- $names := list -}}
{{- range $name := list "inference" "ui" "training" "minio" -}}
{{- $values := index $.Values $name -}}
{{- if $values.enabled -}}
{{- $registry := $.Values.global.imageRegistry | default (dig "image" "registry" "" $values) -}}
{{- if not (or $registry (contains "/" (dig "image" "repository" "" $values))) -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join " " $names -}}
{{- end }}
