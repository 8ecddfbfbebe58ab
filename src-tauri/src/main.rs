//! `pairpad-desktop`: everything lives in the library.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    pairpad_desktop::run();
}
