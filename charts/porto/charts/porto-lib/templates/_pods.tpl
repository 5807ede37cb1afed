{{/* What pods and their settings share: images, monitoring, the object store, settings. */}}

{{/*
The image reference: registry/repository (global.imageRegistry wins over image.registry), then
@digest or :tag (default: the chart's appVersion). The umbrella names a subchart's image with that
subchart's context: include "porto-lib.image" (index .Subcharts "inference").
*/}}
{{- define "porto-lib.image" -}}
{{- $image := .Values.image -}}
{{- $registry := .Values.global.imageRegistry | default $image.registry -}}
{{- $repository := $image.repository -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end }}

{{/* Whether the monitoring.coreos.com resources render: the API exists, or forced. */}}
{{- define "porto-lib.monitoring" -}}
{{- $m := .Values.global.monitoring -}}
{{- if and $m.enabled (or $m.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{/* The model store: s3://<bucket>/<prefix>. */}}
{{- define "porto-lib.storeUri" -}}
{{- $o := .Values.global.objectStore -}}
{{- printf "s3://%s/%s" $o.bucket ($o.prefix | trimAll "/") | trimSuffix "/" -}}
{{- end }}

{{/* The settings rendered into a ConfigMap: PORTO_<CHART>_<KEY> for each `config` key. */}}
{{- define "porto-lib.configEnv" -}}
{{- $prefix := printf "PORTO_%s" (upper .Chart.Name) }}
{{- range $key, $value := .Values.config }}
{{- if not (kindIs "invalid" $value) }}
{{ printf "%s_%s" $prefix (upper $key) }}: {{ include "porto-lib.envValue" $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A value as an environment variable's text. Helm reads every YAML number as float64, and
toString would write 67108864 as "6.7108864e+07", which no settings parser takes as an integer.
*/}}
{{- define "porto-lib.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end }}
