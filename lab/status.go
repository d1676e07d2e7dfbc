package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/satloop/satloop/lightning"
)

// Status describes a lab, running or not.
type Status struct {
	Dir       string    `json:"dir"`
	Exists    bool      `json:"exists"`
	Ready     bool      `json:"ready"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// BlockHeight is btcd's best height, 0 when btcd does not answer.
	BlockHeight int64         `json:"block_height"`
	Btcd        ProcessStatus `json:"btcd"`
	Nodes       []NodeStatus  `json:"nodes"`
	Problems    []string      `json:"problems,omitempty"`
}

// ProcessStatus says whether a lab process runs.
type ProcessStatus struct {
	PID     int  `json:"pid"`
	Running bool `json:"running"`
}

// NodeStatus is one node as it answers now.
type NodeStatus struct {
	Name    string        `json:"name"`
	Process ProcessStatus `json:"process"`
	Pubkey  string        `json:"pubkey,omitempty"`
	RPCAddr string        `json:"rpc_addr"`
	// Info and Balances are absent when the node does not answer.
	Info     *lightning.NodeInfo `json:"info,omitempty"`
	Balances *lightning.Balances `json:"balances,omitempty"`
	Channels []lightning.Channel `json:"channels,omitempty"`
	Error    string              `json:"error,omitempty"`
}

// StatusOf reports on the lab in dir without changing it. A directory with
// no lab is not an error: Exists is false.
func StatusOf(ctx context.Context, dir string) (Status, error) {
	s := Status{Dir: dir}
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Exists, s.Ready, s.StartedAt = true, st.Ready, st.StartedAt
	s.Btcd = ProcessStatus{PID: st.Btcd.Process.PID, Running: st.Btcd.Process.alive()}
	if s.Btcd.Running {
		if rpc, err := dialBtcd(st.Btcd.RPCAddr, st.Btcd.RPCUser, st.Btcd.RPCPass, st.Btcd.CertPath); err == nil {
			if h, err := rpc.GetBlockCount(); err == nil {
				s.BlockHeight = h
			} else {
				s.Problems = append(s.Problems, "btcd: "+err.Error())
			}
			rpc.Shutdown()
		}
	} else {
		s.Problems = append(s.Problems, "btcd is not running")
	}
	for _, n := range st.Nodes {
		ns := NodeStatus{
			Name:    n.Name,
			Process: ProcessStatus{PID: n.Process.PID, Running: n.Process.alive()},
			Pubkey:  n.Pubkey,
			RPCAddr: n.RPCAddr,
		}
		if !ns.Process.Running {
			s.Problems = append(s.Problems, n.Name+" is not running")
			s.Nodes = append(s.Nodes, ns)
			continue
		}
		if err := nodeStatus(ctx, n, &ns); err != nil {
			ns.Error = err.Error()
			s.Problems = append(s.Problems, n.Name+": "+err.Error())
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s, nil
}

func nodeStatus(ctx context.Context, n *Node, ns *NodeStatus) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := n.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	info, err := conn.Info(ctx)
	if err != nil {
		return err
	}
	ns.Info = &info
	bal, err := conn.Balances(ctx)
	if err != nil {
		return err
	}
	ns.Balances = &bal
	chans, err := conn.Channels(ctx)
	if err != nil {
		return err
	}
	ns.Channels = chans
	return nil
}

// NodeEnv is how to reach one node: what `satloop lab env` prints.
type NodeEnv struct {
	Name         string `json:"name"`
	Pubkey       string `json:"pubkey"`
	RPCAddr      string `json:"rpc_addr"`
	P2PAddr      string `json:"p2p_addr"`
	RESTAddr     string `json:"rest_addr"`
	TLSCertPath  string `json:"tls_cert_path"`
	MacaroonPath string `json:"macaroon_path"`
	// ReadOnlyMacaroonPath and InvoiceMacaroonPath are lnd's own narrower
	// macaroons.
	ReadOnlyMacaroonPath string `json:"readonly_macaroon_path"`
	InvoiceMacaroonPath  string `json:"invoice_macaroon_path"`
	// LNDConnect holds the admin macaroon: a lab secret, shown on request.
	LNDConnect string `json:"lndconnect"`
	// LNCLI is the command line (program and arguments) that runs lncli
	// against the node.
	LNCLI []string `json:"lncli"`
}

// Env is the connection details of every node.
type Env struct {
	Dir   string    `json:"dir"`
	Nodes []NodeEnv `json:"nodes"`
}

// Env returns the connection details of the lab's nodes.
func (net *Network) Env() (Env, error) {
	env := Env{Dir: net.dir}
	for _, n := range net.st.Nodes {
		uri, err := n.LNDConnect()
		if err != nil {
			return Env{}, err
		}
		env.Nodes = append(env.Nodes, NodeEnv{
			Name:                 n.Name,
			Pubkey:               n.Pubkey,
			RPCAddr:              n.RPCAddr,
			P2PAddr:              n.P2PAddr,
			RESTAddr:             n.RESTAddr,
			TLSCertPath:          n.TLSCertPath,
			MacaroonPath:         n.MacaroonPath("admin"),
			ReadOnlyMacaroonPath: n.MacaroonPath("readonly"),
			InvoiceMacaroonPath:  n.MacaroonPath("invoice"),
			LNDConnect:           uri,
			LNCLI: []string{
				net.st.Binaries.LNCLI, "--network=regtest",
				"--rpcserver=" + n.RPCAddr,
				"--tlscertpath=" + n.TLSCertPath,
				"--macaroonpath=" + n.MacaroonPath("admin"),
			},
		})
	}
	if len(env.Nodes) == 0 {
		return Env{}, fmt.Errorf("lab: the lab in %s has no nodes", net.dir)
	}
	return env, nil
}
