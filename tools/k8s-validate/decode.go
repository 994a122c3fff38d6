package main

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest: obj points to its typed struct (one of the
// kinds in the schemas table).
type object struct {
	kind, name, namespace string
	meta                  *metav1.ObjectMeta
	obj                   any
}

// ref names an object in messages: "Deployment/offload-worker".
func (o *object) ref() string { return o.kind + "/" + o.name }

// schemas: the kinds the manifests may use, by "apiVersion kind", each with a
// constructor of its typed struct and the struct's metadata. Anything else is
// refused: a kind with no schema here cannot be checked.
var schemas = map[string]func() (any, *metav1.ObjectMeta){
	"v1 Namespace":       func() (any, *metav1.ObjectMeta) { o := &corev1.Namespace{}; return o, &o.ObjectMeta },
	"v1 Service":         func() (any, *metav1.ObjectMeta) { o := &corev1.Service{}; return o, &o.ObjectMeta },
	"v1 Secret":          func() (any, *metav1.ObjectMeta) { o := &corev1.Secret{}; return o, &o.ObjectMeta },
	"v1 ConfigMap":       func() (any, *metav1.ObjectMeta) { o := &corev1.ConfigMap{}; return o, &o.ObjectMeta },
	"apps/v1 Deployment": func() (any, *metav1.ObjectMeta) { o := &appsv1.Deployment{}; return o, &o.ObjectMeta },
	"apps/v1 StatefulSet": func() (any, *metav1.ObjectMeta) {
		o := &appsv1.StatefulSet{}
		return o, &o.ObjectMeta
	},
	"autoscaling/v2 HorizontalPodAutoscaler": func() (any, *metav1.ObjectMeta) {
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		return o, &o.ObjectMeta
	},
	"policy/v1 PodDisruptionBudget": func() (any, *metav1.ObjectMeta) {
		o := &policyv1.PodDisruptionBudget{}
		return o, &o.ObjectMeta
	},
	"keda.sh/v1alpha1 ScaledObject": func() (any, *metav1.ObjectMeta) { o := &ScaledObject{}; return o, &o.ObjectMeta },
}

// buildDir runs kustomize on dir as `kubectl apply -k dir` would (files
// outside dir's tree refused, no plugins) and returns each object's YAML.
func buildDir(fsys filesys.FileSystem, dir string) ([][]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		docs = append(docs, y)
	}
	return docs, nil
}

// decodeStrict decodes one YAML document into its typed struct, refusing what
// the API server's strict field validation refuses: unknown fields, fields
// spelt in another case (Go's encoding/json would match them), duplicate
// keys; and whatever does not decode (a string for a number, "1GB" for a
// quantity). On unknown fields alone it returns the object with the error;
// on anything else no object.
func decodeStrict(doc []byte) (*object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
		return nil, err
	}
	id := head.Kind + "/" + head.Metadata.Name
	mk, ok := schemas[head.APIVersion+" "+head.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: no schema for apiVersion %q kind %q (known: %s)",
			id, head.APIVersion, head.Kind, strings.Join(knownKinds(), ", "))
	}
	obj, meta := mk()
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	o := &object{kind: head.Kind, name: meta.Name, namespace: meta.Namespace, meta: meta, obj: obj}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		// It decoded but for the unknown fields: keep it for the rules, so
		// one typo does not also make every reference to it look broken.
		return o, fmt.Errorf("%s: %s", id, strings.Join(msgs, "; "))
	}
	return o, nil
}

func knownKinds() []string {
	var ks []string
	for k := range schemas {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// validateDir builds, decodes and checks one kustomization directory on disk.
// It returns the problems found and the number of objects; err is set only
// when nothing could be checked (kustomize failed).
func validateDir(dir string, externalSecrets []string) ([]string, int, error) {
	return validateFS(filesys.MakeFsOnDisk(), dir, externalSecrets)
}

func validateFS(fsys filesys.FileSystem, dir string, externalSecrets []string) ([]string, int, error) {
	docs, err := buildDir(fsys, dir)
	if err != nil {
		return nil, 0, err
	}
	var problems []string
	var objs []*object
	undecoded := 0
	for _, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if o == nil {
			undecoded++
			continue
		}
		objs = append(objs, o)
	}
	if undecoded > 0 {
		// The rules look across objects: with one missing they would report
		// its absence everywhere it is referred to.
		return append(problems, fmt.Sprintf("rules not checked: %d object(s) did not decode", undecoded)),
			len(docs), nil
	}
	problems = append(problems, checkRules(objs, externalSecrets)...)
	return problems, len(docs), nil
}
