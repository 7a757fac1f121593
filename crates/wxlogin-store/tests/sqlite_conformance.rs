//! The backend conformance suite against the embedded SQLite store: once on a real file in a
//! temporary directory (WAL, split read/write pools), once in memory.

mod file {
    use wxlogin_store::SqliteStore;
    use wxlogin_store::conformance::TestStore;

    wxlogin_store::conformance_tests!({
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open_path(&dir.path().join("wxlogin.db"))
            .await
            .expect("open SQLite file");
        TestStore::new(store).keep_alive(dir)
    });
}

mod memory {
    use wxlogin_store::SqliteStore;
    use wxlogin_store::conformance::TestStore;

    wxlogin_store::conformance_tests!(TestStore::new(
        SqliteStore::open("sqlite::memory:")
            .await
            .expect("open in-memory SQLite")
    ));
}
