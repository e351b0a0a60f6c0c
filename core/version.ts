/** polyvoy's version, reported by --version and (later) the admin's /server_info. */
export const VERSION = "0.1.0";
