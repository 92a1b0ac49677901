//! The door: a connection is kept only if the peer's authenticated identity (its ed25519
//! key, proven by the noise handshake) is allowed — a validator, administrator, issuer or
//! site named by genesis or registered by governance, as the ledger says now. Others are
//! refused right after the handshake, before any protocol runs.

use couponchain_chain::PublicKey;
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Who may connect, asked at every connection.
pub type Allow = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error("peer {peer} is not a registered participant of this chain")]
pub struct NotAllowed {
    pub peer: PeerId,
}

/// The chain key behind a peer id, if the id embeds an ed25519 key (ours always do).
pub fn chain_key(peer: &PeerId) -> Option<PublicKey> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(PublicKey(ed.to_bytes()))
}

/// The peer id of a chain key.
pub fn peer_id(key: &PublicKey) -> Option<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        ed,
    )))
}

pub struct Gate {
    allow: Allow,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Gate {
    pub fn new(allow: Allow) -> Gate {
        Gate { allow }
    }

    fn check(&self, peer: PeerId) -> Result<dummy::ConnectionHandler, ConnectionDenied> {
        match chain_key(&peer) {
            Some(k) if (self.allow)(&k) => Ok(dummy::ConnectionHandler),
            _ => Err(ConnectionDenied::new(NotAllowed { peer })),
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::Keypair;

    #[test]
    fn peer_ids_and_chain_keys_round_trip() {
        let k = Keypair::from_seed("gate").public();
        let id = peer_id(&k).unwrap();
        assert_eq!(chain_key(&id), Some(k));
        // The libp2p identity derived from the same secret has the same peer id.
        let secret = Keypair::from_seed("gate").secret_bytes();
        let lk = libp2p::identity::Keypair::ed25519_from_bytes(secret).unwrap();
        assert_eq!(lk.public().to_peer_id(), id);
    }
}
