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

{{/* The inference image, as the inference subchart computes it (the test pod runs it). */}}
{{- define "porto.inferenceImage" -}}
{{- $image := .Values.inference.image -}}
{{- $registry := .Values.global.imageRegistry | default $image.registry -}}
{{- $repository := $image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end }}
