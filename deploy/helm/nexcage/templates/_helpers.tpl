{{/* Object names: the release name + "-agent", at most 63 characters. */}}
{{- define "nexcage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-agent" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The app.kubernetes.io/name label: the chart name unless nameOverride says otherwise. */}}
{{- define "nexcage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nexcage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nexcage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "nexcage.labels" -}}
{{ include "nexcage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "nexcage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "nexcage.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The agent's --runtime-classes value: HANDLER[=NAME],... */}}
{{- define "nexcage.runtimeClassesArg" -}}
{{- range $i, $rc := .Values.runtimeClasses -}}
{{- if $i }},{{ end -}}
{{- $rc.handler -}}
{{- if $rc.name }}={{ $rc.name }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* The image `make image` builds (and `make push-image` pushes), tag defaulting to appVersion. */}}
{{- define "nexcage.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The agent's pod-level security: a non-root user whose supplementary group may use the socket. */}}
{{- define "nexcage.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.agent.runAsUser }}
runAsGroup: {{ .Values.agent.runAsGroup }}
supplementalGroups:
  - {{ .Values.socketGroupId }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Least privilege for every container of the chart. */}}
{{- define "nexcage.containerSecurityContext" -}}
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end -}}
