package v1alpha1

// Condition types shared by every kind. They follow kstatus: an object whose Stalled condition is
// True is Failed, one whose Reconciling condition is True is InProgress, and one whose
// status.observedGeneration matches metadata.generation with neither is Current.
const (
	// ConditionReady is True when the object does what its spec asks.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is still working towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress without a change from the
	// user; its reason and message say what to change.
	ConditionStalled = "Stalled"
)

// Labels the operator sets on the objects it creates. Network policies select namespaces and
// pods by these labels (or by kubernetes.io/metadata.name) only, so a tenant that sets labels on
// its own objects cannot gain reachability.
const (
	// LabelWorkspace names the Workspace an object belongs to.
	LabelWorkspace = "compute.serverlessplane.io/workspace"
	// LabelWarehouse names the ServerlessWarehouse a pod or object belongs to.
	LabelWarehouse = "compute.serverlessplane.io/warehouse"
	// LabelEndpoint names the ModelEndpoint a pod or object belongs to.
	LabelEndpoint = "compute.serverlessplane.io/endpoint"
	// LabelServedEntity names the served entity of a ModelEndpoint a pod or object belongs to.
	LabelServedEntity = "compute.serverlessplane.io/served-entity"
	// LabelNCC names the NetworkConnectivityConfig whose private endpoint rule an object
	// materializes.
	LabelNCC = "compute.serverlessplane.io/ncc"
	// LabelCluster names the warehouse cluster a pod belongs to.
	LabelCluster = "compute.serverlessplane.io/cluster"
	// AnnotationActivation is where the control-plane gateway names the served entities of a
	// ModelEndpoint it holds requests for, with the time it last did:
	// "<entity>[,<entity>...]@<RFC 3339 time>". The operator starts each named entity at once.
	AnnotationActivation = "compute.serverlessplane.io/activation"
	// LabelManagedBy is the standard label that marks objects the operator created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on objects the operator created.
	ManagedByValue = "serverlessplane"
)

// Protocol is the transport protocol of a port.
// +kubebuilder:validation:Enum=TCP;UDP
type Protocol string

const (
	// ProtocolTCP is TCP.
	ProtocolTCP Protocol = "TCP"
	// ProtocolUDP is UDP.
	ProtocolUDP Protocol = "UDP"
)

// NetworkPort is a destination port, as in a NetworkPolicy port.
type NetworkPort struct {
	// port is the destination port number, 1 to 65535.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// protocol is TCP or UDP. Defaults to TCP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`
}
