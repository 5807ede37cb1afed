{{/* The standard helpers, and the names of the inference and training charts' objects, are porto-lib's (charts/porto-lib). */}}

{{/*
The inference API's base URL: api.url, or this release's inference Service (porto-lib.nameOf) on
api.port.
*/}}
{{- define "ui.apiUrl" -}}
{{- if .Values.api.url -}}
{{- .Values.api.url | trimSuffix "/" -}}
{{- else -}}
{{- printf "http://%s:%d" (include "porto-lib.nameOf" (list . "inference")) (int .Values.api.port) -}}
{{- end -}}
{{- end }}

{{/*
The Secret holding the key the UI sends: global.apiKey.existingSecret; else, for this release's
API (no api.url), the one the inference chart generates (porto-lib.apiKeySecret); else none: an
API elsewhere (api.url) gets its key through global.apiKey.existingSecret.
*/}}
{{- define "ui.apiKeySecret" -}}
{{- if or .Values.global.apiKey.existingSecret (not .Values.api.url) -}}
{{- include "porto-lib.apiKeySecret" . -}}
{{- end -}}
{{- end }}

{{/*
The ConfigMap holding the training Job template the launcher reads: trainingLauncher.templateName,
or this release's (porto-lib.trainingJobTemplate).
*/}}
{{- define "ui.trainingTemplate" -}}
{{- .Values.trainingLauncher.templateName | default (include "porto-lib.trainingJobTemplate" .) -}}
{{- end }}
