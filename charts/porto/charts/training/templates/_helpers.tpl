{{/* The standard helpers are porto-lib's (charts/porto-lib). */}}

{{/*
The pod template every training run uses: the install/upgrade Job, the CronJob and the on-demand
Job template. `porto-train train` with the data source and `--set` overrides from the values.
*/}}
{{- define "training.podTemplate" -}}
{{- $s3 := .Values.global.objectStore -}}
{{- $endpoint := include "porto-lib.s3Endpoint" . -}}
metadata:
  labels:
    {{- include "porto-lib.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := deepCopy .Values.podAnnotations }}
  {{- if and .Values.waitForStore.enabled $endpoint }}
  {{- $_ := set $annotations "checksum/scripts" (include (print $.Template.BasePath "/scripts-configmap.yaml") . | sha256sum) }}
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
        - name: PORTO_HOME
          value: /var/lib/porto
        - name: PORTO_STORE
          value: {{ include "porto-lib.storeUri" . | quote }}
        - name: PORTO_MODEL_NAME
          value: {{ .Values.global.modelName | quote }}
        - name: PORTO_TRAIN_METRICS_PORT
          value: {{ .Values.metricsPort | quote }}
        # The PodMonitor scrapes the pod's IP: every interface, not loopback.
        - name: PORTO_TRAIN_METRICS_ADDR
          value: "0.0.0.0"
        {{- with $endpoint }}
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
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      # A run is a batch process: no liveness/readiness probes (nothing routes traffic to it,
      # and a slow stage must not be restarted); activeDeadlineSeconds bounds a hung run.
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: home
          mountPath: /var/lib/porto
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

{{/* The Job spec of one run (install/upgrade Job, CronJob, on-demand template). */}}
{{- define "training.jobSpec" -}}
backoffLimit: {{ .Values.job.backoffLimit }}
activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
template:
  {{- include "training.podTemplate" . | nindent 2 }}
{{- end }}
