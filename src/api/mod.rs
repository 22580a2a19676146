//! WHIP/WHEP, the legacy JSON API and `/api/v1/*`.
