"""The controller's durable state: versioned schema migrations (SQLite; PostgreSQL to follow).

Migrations only ever append: version N's script runs once, in a transaction, and records N in
`PRAGMA user_version`. A database newer than this code is refused rather than guessed at.

What each table proves or remembers:
- items: the latest catalog item per SKU and HQ's version of it (a stale version is ignored);
- applied_prices: every selling price the store has applied, for the Omnibus prior price;
- devices, bindings: the adopted devices and which item (template, page) each label shows;
- label_state: per label the desired and the reported revision and content hash, so that the
  store can prove what each label displays and never sends an older revision;
- outbox: pushes not yet confirmed, one row per label (latest wins), durable across crashes;
- render_queue: labels to render again, durable so a crash loses no catalog change;
- audit_log, scans: who changed what and when; shoppers' QR scans;
- api_tokens: the REST API's credentials (hashed) and their roles;
- shelf_lanes, shelf_calibrations, shelf_events: which item each shelf lane holds, its
  persisted calibration (tare, unit weight), and what the weight pipeline reported;
- shelf_stock, stock_upstream: each lane's count and state; the stock messages for HQ, in order;
- alerts: low stock, out of stock, misplaced, ... for staff, with who acknowledged and resolved;
- room_sessions, room_items: fitting-room visits and the garments brought in.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE items (
        sku TEXT PRIMARY KEY,
        version INTEGER,
        body TEXT NOT NULL,            -- the CatalogItem as JSON
        deleted INTEGER NOT NULL DEFAULT 0,
        received_at TEXT NOT NULL
    );
    CREATE TABLE applied_prices (
        sku TEXT NOT NULL,
        price TEXT NOT NULL,           -- decimal as text: no binary floating point
        currency TEXT NOT NULL,
        valid_from TEXT NOT NULL,      -- ISO 8601 UTC
        valid_to TEXT,                 -- NULL: still applies
        PRIMARY KEY (sku, valid_from)
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        model INTEGER NOT NULL,
        gateway_id TEXT NOT NULL,
        adopted INTEGER NOT NULL DEFAULT 0,
        firmware TEXT,
        session INTEGER NOT NULL DEFAULT 0,
        online INTEGER NOT NULL DEFAULT 0,
        battery_mv INTEGER,
        rssi INTEGER,
        last_seen TEXT,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE bindings (
        device_id TEXT PRIMARY KEY REFERENCES devices(device_id),
        sku TEXT NOT NULL,
        template TEXT,                 -- NULL: the default for the item's price kind
        page INTEGER NOT NULL DEFAULT 1,
        linked_at TEXT NOT NULL,
        linked_by TEXT NOT NULL
    );
    CREATE INDEX bindings_by_sku ON bindings(sku);
    CREATE TABLE label_state (
        device_id TEXT PRIMARY KEY,
        desired_revision INTEGER NOT NULL DEFAULT 0,
        desired_hash BLOB,
        desired_at TEXT,
        reported_revision INTEGER NOT NULL DEFAULT 0,
        reported_hash BLOB,
        reported_at TEXT
    );
    CREATE TABLE outbox (
        device_id TEXT PRIMARY KEY,    -- one pending push per label: the latest wins
        revision INTEGER NOT NULL,
        priority INTEGER NOT NULL,     -- lower first: staff and single changes before bulk
        reason TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox(priority, next_attempt_at);
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        sku TEXT NOT NULL,
        user_agent TEXT
    );
    """,
    # 2: the controller pipeline, devices' health and API tokens
    """
    ALTER TABLE items ADD COLUMN next_change_at TEXT;  -- the next promotion start or end
    CREATE INDEX items_next_change ON items(next_change_at);
    ALTER TABLE devices ADD COLUMN max_packet INTEGER NOT NULL DEFAULT 1024;
    ALTER TABLE devices ADD COLUMN pages INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE devices ADD COLUMN checkin_s INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE devices ADD COLUMN location TEXT;       -- "aisle 3 / shelf 2": where staff put it
    ALTER TABLE devices ADD COLUMN problem TEXT;        -- the latest unresolved failure
    ALTER TABLE devices ADD COLUMN problem_at TEXT;
    ALTER TABLE label_state ADD COLUMN desired_planes BLOB;  -- zlib of the desired bit planes
    ALTER TABLE label_state ADD COLUMN shown_planes BLOB;    -- zlib of what it reports showing
    ALTER TABLE label_state ADD COLUMN desired_page INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE label_state ADD COLUMN desired_template TEXT;
    CREATE TABLE render_queue (
        device_id TEXT PRIMARY KEY,    -- labels whose image must be rendered again
        priority INTEGER NOT NULL,
        force INTEGER NOT NULL DEFAULT 0,
        reason TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1  -- grows with each enqueue: a render done from
                                               -- an older one does not clear a newer one
    );
    CREATE INDEX render_queue_order ON render_queue(priority, enqueued_at);
    CREATE TABLE api_tokens (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'staff', 'admin')),
        token_hash BLOB NOT NULL UNIQUE,   -- SHA-256 of the token; the token is never stored
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
    # 3: console sessions, apart from API tokens (controller/state/sessions_repo.py)
    """
    CREATE TABLE console_sessions (
        session_hash BLOB PRIMARY KEY,     -- SHA-256 of the cookie's session id, never the id
        token_name TEXT NOT NULL REFERENCES api_tokens(name),
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        ended_at TEXT                      -- logout, or the token revoked
    );
    CREATE INDEX console_sessions_by_token ON console_sessions(token_name);
    CREATE TABLE health_probe (        -- /readyz writes here: the database takes writes
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL
    );
    """,
    # 4: device identity and availability (controller/gateways.py, controller/report_check.py)
    """
    -- alive: the device's own latest Birth/Death says it is up; online: alive and reachable,
    -- i.e. also its access point is online (PROTOCOL.md §4.6)
    ALTER TABLE devices ADD COLUMN alive INTEGER NOT NULL DEFAULT 0;
    UPDATE devices SET alive = online;
    CREATE INDEX devices_by_gateway ON devices(gateway_id);
    CREATE TABLE label_revisions (     -- the images this controller issued per label (the last
        device_id TEXT NOT NULL,       -- few): a report of anything else is not believed
        revision INTEGER NOT NULL,
        content_hash BLOB NOT NULL,
        PRIMARY KEY (device_id, revision)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO label_revisions
        SELECT device_id, desired_revision, desired_hash FROM label_state
        WHERE desired_hash IS NOT NULL AND desired_revision > 0;
    """,
    # 5: smart shelves (controller/state/shelves_repo.py, docs/shelves.md)
    """
    CREATE TABLE shelf_lanes (          -- which item each lane of a shelf sensor holds
        device_id TEXT NOT NULL,
        lane INTEGER NOT NULL CHECK (lane >= 0),   -- 0-based index into lane_grams
        sku TEXT NOT NULL,
        unit_g REAL NOT NULL CHECK (unit_g > 0),
        low_stock INTEGER NOT NULL CHECK (low_stock >= 0),
        capacity INTEGER CHECK (capacity IS NULL OR capacity > 0),
        linked_at TEXT NOT NULL,
        linked_by TEXT NOT NULL,
        PRIMARY KEY (device_id, lane)
    ) WITHOUT ROWID;
    CREATE TABLE shelf_calibrations (   -- kept by the controller: never a tare taken at boot
        device_id TEXT NOT NULL,
        lane INTEGER NOT NULL,
        tare_g REAL NOT NULL,
        unit_g REAL NOT NULL,
        noise_g REAL NOT NULL,
        source TEXT NOT NULL,          -- "linked", "tared by staff", "drift corrected ...", ...
        document TEXT NOT NULL,        -- the whole LaneCalibration as JSON
        updated_at TEXT NOT NULL,
        PRIMARY KEY (device_id, lane)
    ) WITHOUT ROWID;
    CREATE TABLE shelf_events (         -- what the pipeline said, for staff and dashboards
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,            -- "LowStock", "OutOfStock", "StockCounted", ...
        device_id TEXT NOT NULL,
        lane INTEGER,                  -- NULL: the whole sensor (offline, online)
        sku TEXT,
        count INTEGER,
        detail TEXT NOT NULL,          -- JSON
        at TEXT NOT NULL
    );
    CREATE INDEX shelf_events_by_lane ON shelf_events(device_id, lane, id);
    """,
    # 6: the store's stock loop (controller/state/stock_repo.py, controller/state/alerts_repo.py)
    """
    CREATE TABLE shelf_stock (          -- each linked lane's count and state, as last counted
        device_id TEXT NOT NULL,
        lane INTEGER NOT NULL,
        sku TEXT NOT NULL,
        count INTEGER,                 -- NULL: not counted yet
        state TEXT CHECK (state IS NULL OR state IN ('ok', 'low', 'out')),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (device_id, lane)
    ) WITHOUT ROWID;
    CREATE INDEX shelf_stock_by_sku ON shelf_stock(sku);
    CREATE TABLE stock_upstream (       -- what goes to HQ, in order: seq is the store's sequence
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sku TEXT NOT NULL,
        document TEXT NOT NULL,        -- JSON, docs/catalog.md "Stock upstream"
        at TEXT NOT NULL,
        sent_at TEXT                   -- NULL: not yet acknowledged by the broker
    );
    CREATE INDEX stock_upstream_unsent ON stock_upstream(seq) WHERE sent_at IS NULL;
    CREATE TABLE alerts (               -- what staff must act on, and who did, when
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,            -- low_stock, out_of_stock, misplaced, uncertain, ...
        subject TEXT NOT NULL,         -- what it is about: "shelf-1/2", a room, a device
        state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
        device_id TEXT,
        lane INTEGER,
        sku TEXT,
        detail TEXT NOT NULL,          -- JSON
        opened_at TEXT NOT NULL,
        acknowledged_at TEXT,
        acknowledged_by TEXT,
        resolved_at TEXT,
        resolved_by TEXT,
        escalated_at TEXT,
        escalations INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 1,           -- each change adds one
        published_version INTEGER NOT NULL DEFAULT 0  -- the last one sent on the alert topic
    );
    CREATE INDEX alerts_unpublished ON alerts(id) WHERE published_version < version;
    -- at most one alert of a kind about a subject is not yet resolved
    CREATE UNIQUE INDEX alerts_unresolved ON alerts(kind, subject) WHERE state != 'resolved';
    CREATE INDEX alerts_by_state ON alerts(state, kind, id);
    """,
    # 7: fitting rooms (controller/fitting_rooms.py, controller/state/rooms_repo.py), scans
    """
    CREATE INDEX items_by_gtin ON items(json_extract(body, '$.gtin')) WHERE deleted = 0;
    CREATE INDEX items_by_style ON items(json_extract(body, '$.family.style')) WHERE deleted = 0;
    CREATE INDEX items_by_collection ON items(json_extract(body, '$.family.collection'))
        WHERE deleted = 0;
    CREATE TABLE room_sessions (        -- a shopper's visit to a fitting room
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        closed_at TEXT,                -- NULL: still in the room
        help_requests INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX room_sessions_open ON room_sessions(device_id) WHERE closed_at IS NULL;
    CREATE TABLE room_items (           -- each garment brought in, by its tag
        session_id INTEGER NOT NULL REFERENCES room_sessions(id),
        code TEXT NOT NULL,            -- the EPC (or barcode) the room read
        gtin TEXT,                     -- NULL: no item (an unknown or invalid tag)
        sku TEXT,                      -- NULL: no catalog item carries the GTIN
        brought_at TEXT NOT NULL,
        left_at TEXT,
        PRIMARY KEY (session_id, code)
    ) WITHOUT ROWID;
    CREATE INDEX room_items_by_sku ON room_items(sku, brought_at);
    -- shoppers' scans counted per item and period (the console, controller/state/scans_repo.py)
    CREATE INDEX scans_by_sku ON scans(sku, at);
    CREATE INDEX scans_by_time ON scans(at);
    """,
    # 8: where shoppers scan, and what they look at next (controller/state/scans_repo.py)
    """
    ALTER TABLE scans ADD COLUMN aisle TEXT;     -- the aisle of the item's labels, if all in one
    ALTER TABLE scans ADD COLUMN from_sku TEXT;  -- NULL: a label's QR code; else the item whose
                                                 -- shoppers' page linked to this one
    CREATE INDEX scans_from ON scans(from_sku, at) WHERE from_sku IS NOT NULL;
    """,
    # 9: store stock HQ reports going down, read as units sold (controller/state/catalog_repo.py)
    """
    CREATE TABLE stock_sold (
        sku TEXT NOT NULL,
        at TEXT NOT NULL,              -- the hour, UTC
        units INTEGER NOT NULL,        -- how far stock.quantity went down in that hour
        PRIMARY KEY (sku, at)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
