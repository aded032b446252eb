package wire

import (
	"encoding/xml"
	"net/netip"
	"strconv"

	"github.com/eniway/eniway/eni"
)

// The XML shapes below are EC2's response elements (API version
// 2016-11-15), limited to the fields eni.Cloud carries.

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func tagSet(t eni.Tags) []xmlTag {
	out := make([]xmlTag, 0, len(t))
	for _, k := range sortedKeys(t) {
		out = append(out, xmlTag{Key: k, Value: t[k]})
	}
	return out
}

type xmlGroup struct {
	GroupID string `xml:"groupId"`
}

type xmlPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	Primary          bool   `xml:"primary"`
}

type xmlPrefix struct {
	IPv4Prefix string `xml:"ipv4Prefix"`
}

type xmlAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
	Status              string `xml:"status"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

// xmlENI is a NetworkInterface (and, without the fields an instance's view
// lacks, an InstanceNetworkInterface).
type xmlENI struct {
	NetworkInterfaceID string         `xml:"networkInterfaceId"`
	SubnetID           string         `xml:"subnetId"`
	VPCID              string         `xml:"vpcId"`
	AvailabilityZone   string         `xml:"availabilityZone,omitempty"`
	Description        string         `xml:"description"`
	MACAddress         string         `xml:"macAddress"`
	PrivateIPAddress   string         `xml:"privateIpAddress"`
	Status             string         `xml:"status"`
	InterfaceType      string         `xml:"interfaceType"`
	Groups             []xmlGroup     `xml:"groupSet>item"`
	Attachment         *xmlAttachment `xml:"attachment,omitempty"`
	PrivateIPs         []xmlPrivateIP `xml:"privateIpAddressesSet>item"`
	Prefixes           []xmlPrefix    `xml:"ipv4PrefixSet>item"`
	Tags               []xmlTag       `xml:"tagSet>item,omitempty"`
}

func toXMLENI(e eni.ENI, instanceView bool) xmlENI {
	x := xmlENI{
		NetworkInterfaceID: e.ID,
		SubnetID:           e.SubnetID,
		VPCID:              e.VPCID,
		Description:        e.Description,
		MACAddress:         e.MAC,
		PrivateIPAddress:   addrString(e.PrimaryIP),
		Status:             e.Status,
		InterfaceType:      "interface",
	}
	for _, g := range e.SecurityGroupIDs {
		x.Groups = append(x.Groups, xmlGroup{GroupID: g})
	}
	x.PrivateIPs = append(x.PrivateIPs, xmlPrivateIP{PrivateIPAddress: addrString(e.PrimaryIP), Primary: true})
	for _, a := range e.SecondaryIPs {
		x.PrivateIPs = append(x.PrivateIPs, xmlPrivateIP{PrivateIPAddress: a.String()})
	}
	for _, p := range e.Prefixes {
		x.Prefixes = append(x.Prefixes, xmlPrefix{IPv4Prefix: p.String()})
	}
	if a := e.Attachment; a != nil {
		x.Attachment = &xmlAttachment{
			AttachmentID: a.ID, DeviceIndex: a.DeviceIndex, NetworkCardIndex: a.NetworkCardIndex,
			Status: "attached", DeleteOnTermination: a.DeleteOnTermination,
		}
		if !instanceView {
			x.Attachment.InstanceID = a.InstanceID
		}
	}
	if !instanceView {
		x.AvailabilityZone = e.AvailabilityZone
		x.Tags = tagSet(e.Tags)
	}
	return x
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

type xmlPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type xmlInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlInstance struct {
	InstanceID       string           `xml:"instanceId"`
	InstanceType     string           `xml:"instanceType"`
	Placement        xmlPlacement     `xml:"placement"`
	SubnetID         string           `xml:"subnetId"`
	VPCID            string           `xml:"vpcId"`
	PrivateIPAddress string           `xml:"privateIpAddress"`
	State            xmlInstanceState `xml:"instanceState"`
	ENIs             []xmlENI         `xml:"networkInterfaceSet>item"`
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

func toXMLInstance(in eni.Instance) xmlInstance {
	x := xmlInstance{
		InstanceID:   in.ID,
		InstanceType: in.Type,
		Placement:    xmlPlacement{AvailabilityZone: in.AvailabilityZone},
		SubnetID:     in.SubnetID,
		VPCID:        in.VPCID,
		State:        xmlInstanceState{Code: 16, Name: "running"},
	}
	for _, e := range in.ENIs {
		if e.Attachment != nil && e.Attachment.DeviceIndex == 0 {
			x.PrivateIPAddress = addrString(e.PrimaryIP)
		}
		x.ENIs = append(x.ENIs, toXMLENI(e, true))
	}
	return x
}

type xmlSubnet struct {
	SubnetID                string   `xml:"subnetId"`
	VPCID                   string   `xml:"vpcId"`
	AvailabilityZone        string   `xml:"availabilityZone"`
	CIDRBlock               string   `xml:"cidrBlock"`
	AvailableIPAddressCount int      `xml:"availableIpAddressCount"`
	State                   string   `xml:"state"`
	Tags                    []xmlTag `xml:"tagSet>item,omitempty"`
}

type xmlSecurityGroup struct {
	GroupID          string   `xml:"groupId"`
	GroupName        string   `xml:"groupName"`
	GroupDescription string   `xml:"groupDescription"`
	VPCID            string   `xml:"vpcId"`
	Tags             []xmlTag `xml:"tagSet>item,omitempty"`
}

type xmlRouteTableAssociation struct {
	AssociationID string `xml:"routeTableAssociationId"`
	RouteTableID  string `xml:"routeTableId"`
	SubnetID      string `xml:"subnetId,omitempty"`
	Main          bool   `xml:"main"`
}

type xmlRouteTable struct {
	RouteTableID string                     `xml:"routeTableId"`
	VPCID        string                     `xml:"vpcId"`
	Associations []xmlRouteTableAssociation `xml:"associationSet>item"`
	Tags         []xmlTag                   `xml:"tagSet>item,omitempty"`
}

func toXMLRouteTable(r eni.RouteTable) xmlRouteTable {
	x := xmlRouteTable{RouteTableID: r.ID, VPCID: r.VPCID, Tags: tagSet(r.Tags)}
	n := 0
	assoc := func(subnet string, main bool) {
		n++
		x.Associations = append(x.Associations, xmlRouteTableAssociation{
			AssociationID: r.ID + "-assoc-" + strconv.Itoa(n), RouteTableID: r.ID, SubnetID: subnet, Main: main,
		})
	}
	if r.Main {
		assoc("", true)
	}
	for _, s := range r.SubnetIDs {
		assoc(s, false)
	}
	return x
}

type xmlVCPUInfo struct {
	DefaultVCPUs int `xml:"defaultVCpus"`
}

type xmlNetworkInfo struct {
	MaximumNetworkInterfaces  int `xml:"maximumNetworkInterfaces"`
	IPv4AddressesPerInterface int `xml:"ipv4AddressesPerInterface"`
	IPv6AddressesPerInterface int `xml:"ipv6AddressesPerInterface"`
	MaximumNetworkCards       int `xml:"maximumNetworkCards"`
}

type xmlInstanceType struct {
	InstanceType string         `xml:"instanceType"`
	Hypervisor   string         `xml:"hypervisor,omitempty"`
	BareMetal    bool           `xml:"bareMetal"`
	VCPUInfo     xmlVCPUInfo    `xml:"vCpuInfo"`
	NetworkInfo  xmlNetworkInfo `xml:"networkInfo"`
}

// xmlError is EC2's error document.
type xmlError struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}
