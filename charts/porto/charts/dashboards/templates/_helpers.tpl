{{/* Standard helpers (prometheus-community style); names cut at 63 characters. */}}

{{- define "dashboards.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Always `<release>-<chart>`: the usual shortcut (the release name alone when it contains the chart
name) would give two subcharts of one release the same names (release `minio-postgres-lab`).
*/}}
{{- define "dashboards.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "dashboards.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dashboards.labels" -}}
helm.sh/chart: {{ include "dashboards.chart" . }}
{{ include "dashboards.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: monitoring
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "dashboards.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dashboards.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* No pods, so no ServiceAccount; the helper exists for the standard set. */}}
{{- define "dashboards.serviceAccountName" -}}
default
{{- end }}

{{- define "dashboards.monitoring" -}}
{{- $m := .Values.global.monitoring -}}
{{- if and $m.enabled (or $m.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{/* The inference chart's resource name in this release (its fullname rule). */}}
{{- define "dashboards.inferenceName" -}}
{{- printf "%s-inference" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}
