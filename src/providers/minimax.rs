//! Stub: replaced by the provider's real adapter.

use super::{AuthStyle, Provider, ProviderId, Region, UsageContext, UsageError};
use crate::snapshot::Snapshot;
use crate::throttle::{Cause, Classification, error_message};
use http::HeaderMap;
use jiff::Timestamp;

pub struct MiniMax;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.minimax.io/v1",
    usage_url: "https://platform.minimax.io/v1/api/openplatform/coding_plan/remains",
}];

impl Provider for MiniMax {
    fn id(&self) -> ProviderId {
        ProviderId::Minimax
    }

    fn regions(&self) -> &'static [Region] {
        REGIONS
    }

    fn auth_style(&self) -> AuthStyle {
        AuthStyle::Bearer
    }

    fn parse_usage(&self, _body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        Err(UsageError::Shape("not implemented yet".into()))
    }

    fn classify(
        &self,
        _status: u16,
        _headers: &HeaderMap,
        body: &[u8],
        _now: Timestamp,
    ) -> Classification {
        Classification::new(Cause::Other, &error_message(body))
    }
}
