{{/* The standard helpers are porto-lib's (charts/porto-lib). */}}

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
