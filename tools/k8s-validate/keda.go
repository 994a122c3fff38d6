package main

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScaledObject is KEDA's keda.sh/v1alpha1 ScaledObject as its specification
// documents it (KEDA 2.x), written here rather than imported: KEDA's Go
// module brings its whole operator. Decoded strictly like the built-in kinds,
// so a misspelt field fails here instead of being dropped by the cluster.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

type ScaledObjectSpec struct {
	ScaleTargetRef        *ScaleTarget  `json:"scaleTargetRef"`
	PollingInterval       *int32        `json:"pollingInterval,omitempty"`
	CooldownPeriod        *int32        `json:"cooldownPeriod,omitempty"`
	InitialCooldownPeriod *int32        `json:"initialCooldownPeriod,omitempty"`
	IdleReplicaCount      *int32        `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32        `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32        `json:"maxReplicaCount,omitempty"`
	Fallback              *KedaFallback `json:"fallback,omitempty"`
	Advanced              *KedaAdvanced `json:"advanced,omitempty"`
	Triggers              []KedaTrigger `json:"triggers"`
}

type ScaleTarget struct {
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	Name                   string `json:"name"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type KedaFallback struct {
	FailureThreshold int32 `json:"failureThreshold"`
	Replicas         int32 `json:"replicas"`
}

type KedaAdvanced struct {
	RestoreToOriginalReplicaCount bool                  `json:"restoreToOriginalReplicaCount,omitempty"`
	HorizontalPodAutoscalerConfig *KedaHPAConfig        `json:"horizontalPodAutoscalerConfig,omitempty"`
	ScalingModifiers              *KedaScalingModifiers `json:"scalingModifiers,omitempty"`
}

type KedaHPAConfig struct {
	Name     string                                         `json:"name,omitempty"`
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

type KedaScalingModifiers struct {
	Formula          string `json:"formula,omitempty"`
	Target           string `json:"target,omitempty"`
	ActivationTarget string `json:"activationTarget,omitempty"`
	MetricType       string `json:"metricType,omitempty"`
}

// KedaTrigger: metadata is a map of strings in KEDA's schema, so `listLength: 10`
// (a number) is refused here as the cluster would refuse it.
type KedaTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *KedaAuthRef      `json:"authenticationRef,omitempty"`
	MetricType        string            `json:"metricType,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
}

type KedaAuthRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// redisTriggerKeys: the metadata the `redis` (lists) scaler reads. A key not
// here is a typo the scaler would ignore (a misspelt listName leaves it
// watching nothing).
var redisTriggerKeys = map[string]bool{
	"address": true, "host": true, "port": true,
	"addressFromEnv": true, "hostFromEnv": true, "portFromEnv": true,
	"usernameFromEnv": true, "passwordFromEnv": true,
	"listName": true, "listLength": true, "activationListLength": true,
	"enableTLS": true, "unsafeSsl": true, "databaseIndex": true,
}
