{{/* The standard helpers are porto-lib's (charts/porto-lib). */}}

{{/*
The pod template every training run uses: the install/upgrade Job, the CronJob and the on-demand
Job template. `porto-train train` with the data source and `--set` overrides from the values.
*/}}
{{- define "training.podTemplate" -}}
{{- include "training.pod" (list . "training.trainContainer" "porto-lib.labels") }}
{{- end }}

{{/*
A pod of this chart's image: (list <context> <define rendering its one container> <define
rendering its labels>).
The training runs and the batch scoring runs (scoring.yaml) share it: the same ServiceAccount,
security contexts, wait-for-store init container, volumes and scheduling values.
*/}}
{{- define "training.pod" -}}
{{- $ctx := index . 0 -}}
{{- $container := index . 1 -}}
{{- $labels := index . 2 -}}
{{- with $ctx -}}
{{- $endpoint := include "porto-lib.s3Endpoint" . -}}
metadata:
  labels:
    {{- include $labels . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := deepCopy .Values.podAnnotations }}
  {{- if and .Values.waitForStore.enabled $endpoint }}
  {{- $_ := set $annotations "checksum/scripts" (include (print .Template.BasePath "/scripts-configmap.yaml") . | sha256sum) }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "porto-lib.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- $pullSecrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets | uniq }}
  {{- with $pullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if and $endpoint .Values.waitForStore.enabled }}
  initContainers:
    - name: wait-for-store
      image: {{ include "porto-lib.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["python", "/etc/porto/wait_for_store.py"]
      args: [{{ $endpoint | quote }}, {{ .Values.waitForStore.timeoutSeconds | quote }}]
      resources:
        requests:
          cpu: 10m
          memory: 32Mi
        limits:
          cpu: 100m
          memory: 64Mi
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: scripts
          mountPath: /etc/porto
          readOnly: true
  {{- end }}
  containers:
    {{- include $container . | nindent 4 }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 1Gi
    # PORTO_HOME and the working directory: CatBoost's train dir, local downloads.
    - name: home
      emptyDir:
        sizeLimit: {{ .Values.workDirSizeLimit }}
    {{- if and $endpoint .Values.waitForStore.enabled }}
    - name: scripts
      configMap:
        name: {{ include "porto-lib.suffixed" (list . "scripts") }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The container of a training run: `porto-train train`. */}}
{{- define "training.trainContainer" -}}
- name: training
  image: {{ include "porto-lib.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - train
    {{- with .Values.data.uri }}
    - --data
    - {{ . | quote }}
    {{- else }}
    - --rows
    - {{ .Values.data.syntheticRows | int64 | quote }}
    {{- end }}
    {{- if .Values.promote }}
    - --promote
    {{- end }}
    {{- range $key, $value := .Values.config }}
    - --set
    - {{ printf "%s=%s" $key (toJson $value) | quote }}
    {{- end }}
  ports:
    - name: metrics
      containerPort: {{ .Values.metricsPort }}
      protocol: TCP
  env:
    {{- include "training.storeEnv" . | nindent 4 }}
    - name: PORTO_TRAIN_METRICS_PORT
      value: {{ .Values.metricsPort | quote }}
    # The PodMonitor scrapes the pod's IP: every interface, not loopback.
    - name: PORTO_TRAIN_METRICS_ADDR
      value: "0.0.0.0"
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  # A run is a batch process: no liveness/readiness probes (nothing routes traffic to it,
  # and a slow stage must not be restarted); activeDeadlineSeconds bounds a hung run.
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    - name: home
      mountPath: /var/lib/porto
{{- end }}

{{/* The Job spec of one run (install/upgrade Job, CronJob, on-demand template). */}}
{{- define "training.jobSpec" -}}
backoffLimit: {{ .Values.job.backoffLimit }}
activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
template:
  {{- include "training.podTemplate" . | nindent 2 }}
{{- end }}

{{/*
The environment of every pod of this chart: PORTO_HOME, the model registry (PORTO_STORE,
PORTO_MODEL_NAME) and the object store's endpoint and keys, the keys from the existing Secret.
*/}}
{{- define "training.storeEnv" -}}
{{- $s3 := .Values.global.objectStore -}}
- name: PORTO_HOME
  value: /var/lib/porto
- name: PORTO_STORE
  value: {{ include "porto-lib.storeUri" . | quote }}
- name: PORTO_MODEL_NAME
  value: {{ .Values.global.modelName | quote }}
{{- with include "porto-lib.s3Endpoint" . }}
- name: PORTO_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
- name: PORTO_S3_REGION
  value: {{ $s3.region | quote }}
- name: PORTO_S3_CREATE_BUCKET
  value: {{ .Values.createBucket | quote }}
- name: PORTO_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "porto-lib.s3Secret" . }}
      key: {{ ternary $s3.accessKeyKey "access-key" (ne $s3.existingSecret "") }}
- name: PORTO_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "porto-lib.s3Secret" . }}
      key: {{ ternary $s3.secretKeyKey "secret-key" (ne $s3.existingSecret "") }}
{{- end }}

{{/* The Job spec of a batch scoring run (scoring.yaml). */}}
{{- define "training.scoringJobSpec" -}}
backoffLimit: {{ .Values.scoring.backoffLimit }}
activeDeadlineSeconds: {{ .Values.scoring.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.scoring.ttlSecondsAfterFinished }}
template:
  {{- include "training.pod" (list . "training.scoreContainer" "training.scoringLabels") | nindent 2 }}
{{- end }}

{{/* The container of a batch scoring run: `porto-score` with the scoring values. */}}
{{- define "training.scoreContainer" -}}
{{- $s := .Values.scoring -}}
- name: scoring
  image: {{ include "porto-lib.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["porto-score"]
  args:
    - {{ $s.input | quote }}
    {{- with $s.output }}
    - --output
    - {{ . | quote }}
    {{- end }}
    - --model-version
    - {{ $s.modelVersion | quote }}
    - --format
    - {{ $s.format | quote }}
    - --chunk-rows
    - {{ $s.chunkRows | int64 | quote }}
    - --threads
    - {{ $s.threads | int64 | quote }}
    {{- if $s.explain }}
    - --explain
    {{- end }}
    {{- if $s.overwrite }}
    - --overwrite
    {{- end }}
  env:
    {{- include "training.storeEnv" . | nindent 4 }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  # A batch process: no probes; activeDeadlineSeconds bounds a hung run.
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    # An S3 input is streamed to /tmp before it is read (Parquet needs random access).
    - name: tmp
      mountPath: /tmp
    - name: home
      mountPath: /var/lib/porto
{{- end }}

{{/*
Labels of the batch scoring objects and pods: not the training selector labels (the PodMonitor
scrapes training runs' metrics port, which a scoring pod does not have), a component of its own,
as MinIO's bucket Job does.
*/}}
{{- define "training.scoringLabels" -}}
helm.sh/chart: {{ include "porto-lib.chart" . }}
app.kubernetes.io/name: {{ include "porto-lib.name" . }}-score
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "porto-lib.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: batch-scoring
app.kubernetes.io/part-of: porto
{{- end }}
