//! Peer-to-peer networking over libp2p: TCP, noise (authenticated encryption, identity =
//! the node's ed25519 key), yamux, and one request-response protocol ([`wire`]).
//!
//! A permissioned network is small and fully meshed, so every message goes directly to the
//! peers that need it, once: no gossip relay. The swarm runs in its own task; the node
//! talks to it through a [`Network`] handle (bounded command queue) and receives pushes on
//! two bounded queues (consensus traffic; transaction batches). Everything is bounded: a
//! full queue drops the message and counts it, requests in flight per peer are capped,
//! frames are size-checked before allocation, and a peer that keeps sending undecodable or
//! invalid messages is disconnected.

pub mod gate;
pub mod wire;

use gate::{Allow, Gate};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{futures::StreamExt, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use wire::{Codec, Request, Response};

/// Requests awaiting an answer from one peer; beyond this, pushes to it are dropped.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 1024;
/// Invalid messages from one peer before it is disconnected.
pub const MAX_PENALTIES: u32 = 20;
/// Concurrent inbound requests per connection: with frames of up to
/// [`wire::MAX_REQUEST_BYTES`], this bounds what one peer can make us buffer.
pub const MAX_INBOUND_STREAMS: usize = 32;
const COMMAND_QUEUE: usize = 16_384;
const CONSENSUS_QUEUE: usize = 16_384;
/// Block bodies and decided blocks waiting for the node: each may be a frame of up to
/// [`wire::MAX_REQUEST_BYTES`], so they queue apart from the small messages and far fewer
/// of them (the node needs one or two per height; a replica that lags fetches the rest).
const HEAVY_QUEUE: usize = 32;
const TX_QUEUE: usize = 1_024;
const REDIAL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Default)]
pub struct NetMetrics {
    pub peers: Gauge,
    pub denied: Counter,
    pub received: Family<KindLabel, Counter>,
    pub sent: Family<KindLabel, Counter>,
    pub dropped: Family<KindLabel, Counter>,
    pub penalties: Counter,
}

impl NetMetrics {
    pub fn register(r: &mut Registry) -> NetMetrics {
        let m = NetMetrics::default();
        r.register("couponchain_p2p_peers", "Connected peers", m.peers.clone());
        r.register(
            "couponchain_p2p_denied_connections",
            "Connections refused because the peer's identity is not registered",
            m.denied.clone(),
        );
        r.register(
            "couponchain_p2p_received_messages",
            "Requests received from peers, by kind",
            m.received.clone(),
        );
        r.register(
            "couponchain_p2p_sent_messages",
            "Requests sent to peers, by kind",
            m.sent.clone(),
        );
        r.register(
            "couponchain_p2p_dropped_messages",
            "Messages dropped because a bounded queue was full, by kind",
            m.dropped.clone(),
        );
        r.register(
            "couponchain_p2p_penalties",
            "Invalid messages charged to peers",
            m.penalties.clone(),
        );
        m
    }

    fn count(f: &Family<KindLabel, Counter>, kind: &str) {
        f.get_or_create(&KindLabel {
            kind: kind.to_string(),
        })
        .inc();
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gate: Gate,
    rr: request_response::Behaviour<Codec>,
}

/// Answers peers' questions (`Status`, `GetBlocks`); runs on a blocking thread.
pub type Responder = Arc<dyn Fn(Request) -> Response + Send + Sync>;

pub struct NetConfig {
    pub listen: Multiaddr,
    /// Peers to keep connected to, each `/ip4/…/tcp/…/p2p/<peer id>`.
    pub peers: Vec<Multiaddr>,
    /// The node key's secret (the libp2p identity is the same ed25519 key).
    pub secret: [u8; 32],
    pub allow: Allow,
    pub responder: Responder,
}

/// Pushes from peers, for the node.
#[derive(Debug)]
pub struct Inbound {
    /// Proposals, votes, block bodies, decided blocks.
    pub consensus: PeerMessages,
    /// Transaction batches.
    pub txs: mpsc::Receiver<(PeerId, Vec<couponchain_chain::SignedTransaction>, Instant)>,
}

/// Proposals and votes (many, small) and block bodies and decided blocks (few, large), in
/// two bounded queues: a flood of large messages cannot hold more than [`HEAVY_QUEUE`] of
/// them in memory, nor crowd out the votes; the two are served in random turns, so a flood
/// of either cannot starve the other.
#[derive(Debug)]
pub struct PeerMessages {
    small: mpsc::Receiver<(PeerId, Request)>,
    heavy: mpsc::Receiver<(PeerId, Request)>,
}

impl PeerMessages {
    /// The next message from either queue; `None` once the network task has stopped and
    /// both are drained. Cancel-safe (it only waits on channel receives).
    pub async fn recv(&mut self) -> Option<(PeerId, Request)> {
        tokio::select! {
            Some(m) = self.small.recv() => Some(m),
            Some(m) = self.heavy.recv() => Some(m),
            else => None,
        }
    }
}

enum Command {
    Send {
        to: Vec<PeerId>,
        request: Request,
    },
    Ask {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, String>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Penalize {
        peer: PeerId,
        reason: String,
    },
}

/// The node's handle on the network task.
#[derive(Clone)]
pub struct Network {
    commands: mpsc::Sender<Command>,
    connected: Arc<Mutex<BTreeSet<PeerId>>>,
    local: PeerId,
    listening: watch::Receiver<Vec<Multiaddr>>,
    metrics: NetMetrics,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("local", &self.local)
            .finish()
    }
}

impl Network {
    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// Connected peers, in a stable order.
    pub fn connected(&self) -> Vec<PeerId> {
        match self.connected.lock() {
            Ok(c) => c.iter().copied().collect(),
            Err(p) => p.into_inner().iter().copied().collect(),
        }
    }

    /// The addresses the node listens on, once bound.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let mut rx = self.listening.clone();
        let addrs = match rx.wait_for(|a| !a.is_empty()).await {
            Ok(a) => a.clone(),
            Err(_) => Vec::new(),
        };
        addrs
    }

    /// Sends `request` to each of `to` (fire and forget; dropped if the queue is full).
    pub fn send(&self, to: Vec<PeerId>, request: Request) {
        if to.is_empty() {
            return;
        }
        let kind = request.kind();
        let request = if to.len() > 1 {
            Request::Encoded(wire::Preencoded {
                kind,
                bytes: Arc::new(couponchain_chain::encoding::encode(&request)),
            })
        } else {
            request
        };
        if self
            .commands
            .try_send(Command::Send { to, request })
            .is_err()
        {
            NetMetrics::count(&self.metrics.dropped, kind);
        }
    }

    /// Asks one peer and waits for its answer.
    pub async fn ask(&self, peer: PeerId, request: Request) -> Result<Response, String> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Ask {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| "the network task stopped".to_string())?;
        rx.await
            .map_err(|_| "the network task stopped".to_string())?
    }

    /// Charges `peer` for an invalid message; enough of them disconnect it.
    pub fn penalize(&self, peer: PeerId, reason: impl Into<String>) {
        let _ = self.commands.try_send(Command::Penalize {
            peer,
            reason: reason.into(),
        });
    }
}

/// Starts the network task. It runs until `shutdown` turns true.
pub fn spawn(
    config: NetConfig,
    metrics: NetMetrics,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Network, Inbound)> {
    let identity = libp2p::identity::Keypair::ed25519_from_bytes(config.secret)?;
    let local = identity.public().to_peer_id();
    let rr_config = request_response::Config::default()
        .with_request_timeout(Duration::from_secs(30))
        .with_max_concurrent_streams(MAX_INBOUND_STREAMS);
    let gate = Gate::new(config.allow.clone());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| Behaviour {
            gate,
            rr: request_response::Behaviour::new(
                [(wire::PROTOCOL, ProtocolSupport::Full)],
                rr_config,
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm.listen_on(config.listen.clone())?;
    let mut peers = Vec::new();
    for addr in &config.peers {
        let Some(libp2p::multiaddr::Protocol::P2p(id)) = addr.iter().last() else {
            anyhow::bail!("peer address {addr} must end with /p2p/<peer id>");
        };
        if id != local {
            peers.push((id, addr.clone()));
        }
    }
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (consensus_tx, consensus_rx) = mpsc::channel(CONSENSUS_QUEUE);
    let (heavy_tx, heavy_rx) = mpsc::channel(HEAVY_QUEUE);
    let (txs_tx, txs_rx) = mpsc::channel(TX_QUEUE);
    let (listening_tx, listening) = watch::channel(Vec::new());
    let connected = Arc::new(Mutex::new(BTreeSet::new()));
    let task = Task {
        swarm,
        peers,
        commands: command_rx,
        respond: commands.clone(),
        consensus: consensus_tx,
        heavy: heavy_tx,
        txs: txs_tx,
        connected: connected.clone(),
        listening: listening_tx,
        in_flight: HashMap::new(),
        asks: HashMap::new(),
        pushes: HashMap::new(),
        penalties: HashMap::new(),
        responder: config.responder,
        metrics: metrics.clone(),
    };
    tokio::spawn(task.run(shutdown));
    Ok((
        Network {
            commands,
            connected,
            local,
            listening,
            metrics,
        },
        Inbound {
            consensus: PeerMessages {
                small: consensus_rx,
                heavy: heavy_rx,
            },
            txs: txs_rx,
        },
    ))
}

struct Task {
    swarm: Swarm<Behaviour>,
    peers: Vec<(PeerId, Multiaddr)>,
    commands: mpsc::Receiver<Command>,
    respond: mpsc::Sender<Command>,
    consensus: mpsc::Sender<(PeerId, Request)>,
    heavy: mpsc::Sender<(PeerId, Request)>,
    txs: mpsc::Sender<(PeerId, Vec<couponchain_chain::SignedTransaction>, Instant)>,
    connected: Arc<Mutex<BTreeSet<PeerId>>>,
    listening: watch::Sender<Vec<Multiaddr>>,
    in_flight: HashMap<PeerId, usize>,
    asks: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, String>>>,
    pushes: HashMap<OutboundRequestId, PeerId>,
    penalties: HashMap<PeerId, u32>,
    responder: Responder,
    metrics: NetMetrics,
}

impl Task {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut redial = tokio::time::interval(REDIAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { break; }
                }
                _ = redial.tick() => self.dial_missing(),
                Some(cmd) = self.commands.recv() => self.command(cmd),
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
        tracing::debug!("network task stopped");
    }

    fn set_connected(&self, peer: PeerId, up: bool) {
        let mut c = match self.connected.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if up {
            c.insert(peer);
        } else {
            c.remove(&peer);
        }
        self.metrics.peers.set(c.len() as i64);
    }

    fn dial_missing(&mut self) {
        for (id, addr) in &self.peers {
            if !self.swarm.is_connected(id) {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    if !matches!(e, DialError::DialPeerConditionFalse(_)) {
                        tracing::debug!(peer = %id, error = %e, "dial failed");
                    }
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Send { to, request } => {
                let kind = request.kind();
                for peer in to {
                    let n = self.in_flight.entry(peer).or_default();
                    if *n >= MAX_IN_FLIGHT_PER_PEER || !self.swarm.is_connected(&peer) {
                        NetMetrics::count(&self.metrics.dropped, kind);
                        continue;
                    }
                    *n += 1;
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .rr
                        .send_request(&peer, request.clone());
                    self.pushes.insert(id, peer);
                    NetMetrics::count(&self.metrics.sent, kind);
                }
            }
            Command::Ask {
                peer,
                request,
                reply,
            } => {
                if !self.swarm.is_connected(&peer) {
                    let _ = reply.send(Err(format!("not connected to {peer}")));
                    return;
                }
                NetMetrics::count(&self.metrics.sent, request.kind());
                *self.in_flight.entry(peer).or_default() += 1;
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, request);
                self.pushes.insert(id, peer);
                self.asks.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response);
            }
            Command::Penalize { peer, reason } => self.penalize(peer, &reason),
        }
    }

    fn penalize(&mut self, peer: PeerId, reason: &str) {
        self.metrics.penalties.inc();
        let n = self.penalties.entry(peer).or_default();
        *n += 1;
        tracing::debug!(%peer, reason, penalties = *n, "invalid message from peer");
        if *n >= MAX_PENALTIES {
            tracing::warn!(%peer, reason, "disconnecting a peer that keeps sending invalid messages");
            self.penalties.remove(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn settle(&mut self, id: OutboundRequestId, result: Result<Response, String>) {
        if let Some(peer) = self.pushes.remove(&id) {
            if let Some(n) = self.in_flight.get_mut(&peer) {
                *n = n.saturating_sub(1);
            }
        }
        if let Some(reply) = self.asks.remove(&id) {
            let _ = reply.send(result);
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
                self.listening.send_modify(|a| a.push(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "peer connected");
                }
                self.set_connected(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::info!(peer = %peer_id, "peer disconnected");
                self.set_connected(peer_id, false);
                self.in_flight.remove(&peer_id);
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    self.metrics.denied.inc();
                    tracing::warn!(from = %send_back_addr, error = %error, "refused a connection");
                }
            }
            SwarmEvent::OutgoingConnectionError { error, peer_id, .. } => {
                if matches!(error, DialError::Denied { .. }) {
                    self.metrics.denied.inc();
                    tracing::warn!(peer = ?peer_id, error = %error, "refused a connection");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(e)) => self.rr_event(e),
            _ => {}
        }
    }

    fn rr_event(&mut self, e: request_response::Event<Request, Response>) {
        use request_response::{Event, Message};
        match e {
            Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => self.inbound(peer, request, channel),
                Message::Response {
                    request_id,
                    response,
                } => self.settle(request_id, Ok(response)),
            },
            Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, error = %error, "request failed");
                self.settle(request_id, Err(error.to_string()));
            }
            Event::InboundFailure { peer, error, .. } => {
                if let request_response::InboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.penalize(peer, &e.to_string());
                    }
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn inbound(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let kind = request.kind();
        NetMetrics::count(&self.metrics.received, kind);
        match request {
            Request::Status | Request::GetBlocks { .. } | Request::GetBody(_) => {
                let responder = self.responder.clone();
                let respond = self.respond.clone();
                tokio::spawn(async move {
                    let response = tokio::task::spawn_blocking(move || responder(request))
                        .await
                        .unwrap_or_else(|e| Response::Refused(format!("internal error: {e}")));
                    let _ = respond.send(Command::Respond { channel, response }).await;
                });
            }
            Request::Txs(txs) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, Response::Ack);
                if self.txs.try_send((peer, txs, Instant::now())).is_err() {
                    NetMetrics::count(&self.metrics.dropped, kind);
                }
            }
            other => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, Response::Ack);
                let queue = match other {
                    Request::Block(_) | Request::Decided(_) => &self.heavy,
                    _ => &self.consensus,
                };
                if queue.try_send((peer, other)).is_err() {
                    NetMetrics::count(&self.metrics.dropped, kind);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_queues_are_served_and_drained_before_the_end() {
        let (small_tx, small) = mpsc::channel(4);
        let (heavy_tx, heavy) = mpsc::channel(1);
        let mut messages = PeerMessages { small, heavy };
        let peer = PeerId::random();
        heavy_tx.try_send((peer, Request::Status)).unwrap();
        small_tx
            .try_send((peer, Request::GetBlocks { from: 7, max: 1 }))
            .unwrap();
        // The network task stops: what was queued still arrives, then the end.
        drop((small_tx, heavy_tx));
        let mut got = Vec::new();
        while let Some((_, r)) = messages.recv().await {
            got.push(r.kind());
        }
        got.sort_unstable();
        assert_eq!(got, ["get_blocks", "status"]);
    }
}
