package integration

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/controllers/modelendpoint"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/test/framework"
)

// pemCerts parses every certificate of a PEM bundle.
func pemCerts(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for rest := bundle; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, c)
	}
}

// The operator's CA is shared by every spec of the suite; this one drives its own Authority, in
// its own operator namespace and with its own clock, so that a year can pass.
var _ = Describe("The operator CA", func() {
	It("rotates before it expires, trusting the old and the new CA until the old one expires, and recovers from a damaged Secret", func(ctx SpecContext) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("ca")}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		cfg := env.OperatorConfig.DeepCopy()
		cfg.OperatorNamespace = ns.Name
		start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := clocktesting.NewFakeClock(start)
		ca := &modelendpoint.Authority{Client: k8s, Reader: k8s, Config: cfg, Clock: clock, Applier: apply.New(k8s, k8s, apply.FieldManager("certificates"))}
		c := cfg.Certificates

		read := func(name string) *corev1.Secret {
			s := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, s)).To(Succeed())
			return s
		}
		bundleMap := func() []*x509.Certificate {
			cm := &corev1.ConfigMap{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: naming.CABundle}, cm)).To(Succeed())
			return pemCerts([]byte(cm.Data[servingcert.BundleKey]))
		}
		// pass runs the Authority once at t, as an endpoint pass or its own loop does.
		pass := func(t time.Time) certs.Authority {
			clock.SetTime(t)
			a, err := ca.Ensure(ctx)
			Expect(err).NotTo(HaveOccurred())
			return a
		}
		leafOf := func(s *corev1.Secret) *x509.Certificate {
			l, err := certs.ParseCert(s.Data[corev1.TLSCertKey])
			Expect(err).NotTo(HaveOccurred())
			return l
		}

		first := pass(start)
		firstCA, err := certs.ParseCert(first.Current.Cert)
		Expect(err).NotTo(HaveOccurred())
		Expect(bundleMap()).To(HaveLen(1))
		gateway := leafOf(read(naming.GatewayServingSecret))

		By("a second before the rotation point: one CA, and no certificate is re-keyed")
		rotateAt := firstCA.NotAfter.Add(-c.ServingValidity.Duration - c.RenewBefore.Duration - c.CAOverlap.Duration)
		// The gateway's certificate was renewed on the way (every servingValidity-renewBefore).
		pass(rotateAt.Add(-2 * c.ServingValidity.Duration))
		pass(rotateAt.Add(-time.Second))
		Expect(read(naming.CASecret).Data).NotTo(HaveKey("next.crt"))
		gateway = leafOf(read(naming.GatewayServingSecret))
		pass(rotateAt.Add(-time.Second))
		Expect(leafOf(read(naming.GatewayServingSecret)).SerialNumber).To(Equal(gateway.SerialNumber), "a second pass at the same time writes no new certificate")

		By("at the rotation point the next CA is published in every bundle, and does not sign yet")
		published := pass(rotateAt)
		Expect(published.Next).NotTo(BeNil())
		Expect(bytes.Equal(published.Current.Cert, first.Current.Cert)).To(BeTrue())
		Expect(bundleMap()).To(HaveLen(2))
		servingSecret := read(naming.GatewayServingSecret)
		Expect(pemCerts(servingSecret.Data[servingcert.BundleKey])).To(HaveLen(2), "the gateway's Secret carries the bundle")
		Expect(leafOf(servingSecret).SerialNumber).To(Equal(gateway.SerialNumber), "publishing the next CA re-keys nothing")
		Expect(leafOf(servingSecret).CheckSignatureFrom(firstCA)).To(Succeed())

		By("once the overlap ends the next CA signs, every certificate is re-issued by it, and the old CA stays trusted")
		promoted := pass(rotateAt.Add(c.CAOverlap.Duration))
		Expect(bytes.Equal(promoted.Current.Cert, published.Next.Cert)).To(BeTrue())
		Expect(promoted.Previous).To(Equal(first.Current.Cert))
		secondCA, err := certs.ParseCert(promoted.Current.Cert)
		Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{naming.GatewayServingSecret, naming.GatewayClientSecret} {
			leaf := leafOf(read(name))
			Expect(leaf.CheckSignatureFrom(secondCA)).To(Succeed(), name)
			Expect(leaf.NotAfter).To(BeTemporally("~", clock.Now().Add(c.ServingValidity.Duration), time.Minute), "%s: full validity, not clamped to the old CA's expiry", name)
		}
		Expect(bundleMap()).To(HaveLen(2))

		By("in what was the old CA's last month nothing re-keys on every pass")
		inLastMonth := firstCA.NotAfter.Add(-7 * 24 * time.Hour)
		pass(inLastMonth)
		gateway = leafOf(read(naming.GatewayServingSecret))
		pass(inLastMonth.Add(time.Hour))
		Expect(leafOf(read(naming.GatewayServingSecret)).SerialNumber).To(Equal(gateway.SerialNumber))

		By("once the old CA expires it leaves the bundle")
		pass(firstCA.NotAfter)
		Expect(bundleMap()).To(HaveLen(1))
		Expect(read(naming.CASecret).Data).NotTo(HaveKey("previous.crt"))

		By("a CA Secret whose key was damaged: a new CA signs, the old certificate stays trusted, and every certificate is re-issued")
		damaged := read(naming.CASecret)
		damaged.Data[corev1.TLSPrivateKeyKey] = []byte("not a key")
		Expect(k8s.Update(ctx, damaged)).To(Succeed())
		recovered := pass(firstCA.NotAfter.Add(time.Hour))
		Expect(bytes.Equal(recovered.Current.Cert, promoted.Current.Cert)).To(BeFalse())
		Expect(recovered.Previous).To(Equal(promoted.Current.Cert))
		thirdCA, err := certs.ParseCert(recovered.Current.Cert)
		Expect(err).NotTo(HaveOccurred())
		Expect(leafOf(read(naming.GatewayClientSecret)).CheckSignatureFrom(thirdCA)).To(Succeed())
		Expect(bundleMap()).To(HaveLen(2))
	})
})
