//! Tauri's build step. The app's own commands get generated permissions, so only the
//! capabilities in `capabilities/` (the bundled start page) may call them.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&[
        "get_settings",
        "save_settings",
        "start_hosting",
        "stop_hosting",
        "pick_folder",
        "hosting_status",
        "nearby_sessions",
        "pending_knocks",
        "answer_knock",
        "knock",
        "knock_status",
        "join_room",
        "set_guest_access",
        "set_asking",
        "hosted_people",
        "remove_person",
        "new_room_link",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .unwrap_or_else(|error| panic!("tauri build step failed: {error:#}"));
}
