{{- define "weir.labels" -}}
app.kubernetes.io/name: weir-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: weir
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- define "weir.selector" -}}
app.kubernetes.io/name: weir-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "weir.gateway.labels" -}}
app.kubernetes.io/name: weir-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: weir
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- define "weir.gateway.selector" -}}
app.kubernetes.io/name: weir-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
