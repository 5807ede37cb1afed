{{/* Labels: the standard set, with the component of porto-lib.components. */}}

{{- define "porto-lib.labels" -}}
{{- $component := include "porto-lib.component" . | fromYaml -}}
helm.sh/chart: {{ include "porto-lib.chart" . }}
{{ include "porto-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ include "porto-lib.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with $component.component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: porto
{{- end }}

{{/* The labels without the component, for an object of a component of its own (MinIO's bucket Job). */}}
{{- define "porto-lib.commonLabels" -}}
helm.sh/chart: {{ include "porto-lib.chart" . }}
{{ include "porto-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ include "porto-lib.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: porto
{{- end }}

{{- define "porto-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "porto-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The version label: the image tag (default appVersion) where porto-lib.components says `image`, else appVersion. */}}
{{- define "porto-lib.version" -}}
{{- if eq ((include "porto-lib.component" . | fromYaml).version | default "") "image" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- else -}}
{{- .Chart.AppVersion -}}
{{- end -}}
{{- end }}
